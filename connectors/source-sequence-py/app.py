"""`source-sequence-py`: a source written in Python against the same WIT
contract as the Rust connectors, built into a component by componentize-py.

It offers one stream, `sequence`, of `rows` generated rows (`n`, the key
and cursor; `label`, NULL on every tenth row), in full refresh or
incrementally: the saved state is the last `n` read, and a later read with
a larger `rows` emits exactly the rows after it."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

import arrow_ipc

COLUMNS = [("n", "int64", False), ("label", "utf8", True)]
STREAM = "sequence"


def _error(category, code, message):
    return Err(types.ConnectorError(category, code, message, False, None))


def _parse(config_json):
    try:
        config = json.loads(config_json)
    except ValueError as e:
        raise _error(types.ErrorCategory.CONFIG, "bad_json", "config is not JSON: %s" % e)
    if not isinstance(config, dict):
        raise _error(types.ErrorCategory.CONFIG, "bad_config", "config must be a mapping")
    rows = config.get("rows", 1000)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise _error(types.ErrorCategory.CONFIG, "bad_rows", "`rows` must be a whole number >= 0, got %r" % (rows,))
    return rows


# componentize-py may make a new `Source` for each call: the config set by
# `init` lives at module level.
_rows = None


def _schema_bytes():
    return arrow_ipc.schema_message(COLUMNS) + arrow_ipc.END_OF_STREAM


class Source(exports.Source):
    def init(self, config):
        global _rows
        _rows = _parse(config)

    def validate(self, config):
        rows = _parse(config)
        return types.ValidationResult(types.ValidationStatus.SUCCESS, "generates %d rows" % rows, [])

    def discover(self):
        stream = types.StreamDescriptor(
            STREAM,
            _schema_bytes(),
            [types.SyncMode.FULL_REFRESH, types.SyncMode.INCREMENTAL],
            "n",
            ["n"],
            False,
        )
        return types.Catalog([stream])

    def read(self, request):
        summaries = []
        for selection in request.streams:
            if selection.name != STREAM:
                raise _error(types.ErrorCategory.CONFIG, "unknown_stream", "no stream `%s`" % selection.name)
            start = 0
            if selection.sync_mode == types.SyncMode.INCREMENTAL:
                saved = host.get_state(STREAM)
                if saved is not None:
                    start = json.loads(saved)["last"] + 1
            # About 24 bytes of Arrow buffers per row; stay under the limit.
            per_batch = max(1, min(65536, selection.max_batch_bytes // 32))
            records = 0
            size = 0
            batches = 0
            rows = _rows or 0
            n = start
            while n < rows:
                end = min(rows, n + per_batch)
                values = list(range(n, end))
                labels = [None if v % 10 == 0 else "row %d ✓" % v for v in values]
                ipc = arrow_ipc.stream(COLUMNS, [values, labels], end - n)
                host.emit_batch(STREAM, ipc)
                records += end - n
                size += len(ipc)
                batches += 1
                host.report_progress(records, size)
                n = end
            if selection.sync_mode == types.SyncMode.INCREMENTAL and rows > start:
                host.set_state(STREAM, json.dumps({"last": rows - 1}))
            summaries.append(types.StreamSummary(STREAM, records, size, batches))
        return types.ReadSummary(summaries)
