"""Partition keys: videos and edits are dynamic; edit-stage assets are keyed by (edit, video) as ``edit|video``."""

import dagster as dg

video_partitions = dg.DynamicPartitionsDefinition(name="video")
edit_partitions = dg.DynamicPartitionsDefinition(name="edit")
edit_video_partitions = dg.MultiPartitionsDefinition({"edit": edit_partitions, "video": video_partitions})
