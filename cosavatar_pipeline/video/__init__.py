"""Video input and output: probing, decoding, face-centred cropping, constant-rate resampling, mp4 writing."""
