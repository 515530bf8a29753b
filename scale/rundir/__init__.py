"""The run directory contract: typed, versioned records and metrics, written and read here.

The runner, ``scale-finalize``, the report and the classifier's trace builder read run
directories only through this package (``docs/run_dir.md`` documents every file and field).
"""

from scale.rundir.files import RECORDS, Collected, RecordWriter, RunDir, read_records, write_json
from scale.rundir.schema import SCHEMA_VERSION, Metrics, Record

__all__ = ["RECORDS", "SCHEMA_VERSION", "Collected", "Metrics", "Record", "RecordWriter", "RunDir",
           "read_records", "write_json"]
