"""What users take away: rendered videos (mp4 sets with audio) and the figures that show the edit is consistent."""
