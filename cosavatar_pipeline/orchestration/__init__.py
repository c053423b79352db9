"""Everything that imports Dagster inside the package: the code location (``definitions``), what the CLI drives
(``operations``: the instance, registration, materialization), where steps run (``executors``) and the instance's
``dagster.yaml`` (``instance_config``). The rest of ``cosavatar_pipeline`` is the domain library and never imports
Dagster, assets or resources (tests/test_definitions.py checks it)."""
