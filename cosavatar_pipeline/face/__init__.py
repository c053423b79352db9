"""Face tracking (mediapipe FaceMesh) and the parametric face model fitted to it."""
