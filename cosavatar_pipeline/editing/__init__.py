"""Text-guided image editing of avatar renders, and the semantic blending that confines an edit to its region."""
