"""`face_coefficients`: the fitted face model (its files are ``FaceModel``'s own: ``face/model.py``)."""

from pathlib import Path

from cosavatar_pipeline.face.model import FaceModel


def load_face_model(folder: Path) -> FaceModel:
    return FaceModel.load(Path(folder))
