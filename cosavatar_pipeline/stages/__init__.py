"""What each stage stores: one module per stage with its file names and the loaders that read a stored partition
folder back. Assets write with these names and read their inputs with these loaders, so no asset module imports
another to learn where a file is. Loaders take the partition's folder (``Manifest.directory``)."""
