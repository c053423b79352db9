"""The dynamic head + torso NeRF: a head field in canonical head space conditioned on expression and appearance,
a torso field in camera space conditioned on head pose, rendered together over the background plate."""
