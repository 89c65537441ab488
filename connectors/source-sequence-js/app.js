// `source-sequence-js`: a source written in JavaScript against the same WIT
// contract as the Rust connectors, built into a component by
// componentize-js.
//
// It offers one stream, `sequence`, of `rows` generated rows (`n`, the key
// and cursor; `label`, NULL on every tenth row), in full refresh or
// incrementally: the saved state is the last `n` read, and a later read
// with a larger `rows` emits exactly the rows after it.

import { emitBatch, getState, setState, reportProgress } from 'rapidbyte:connector/host@0.1.0';
import { schemaStream, batchStream } from './arrow-ipc.js';

const COLUMNS = [
  ['n', 'int64', false],
  ['label', 'utf8', true],
];
const STREAM = 'sequence';

let rows = 0;

function fail(category, code, message) {
  return { payload: { category, code, message, retryable: false, details: undefined } };
}

function parse(configJson) {
  let config;
  try {
    config = JSON.parse(configJson);
  } catch (e) {
    throw fail('config', 'bad_json', `config is not JSON: ${e}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw fail('config', 'bad_config', 'config must be a mapping');
  }
  const value = config.rows ?? 1000;
  if (!Number.isInteger(value) || value < 0) {
    throw fail('config', 'bad_rows', `\`rows\` must be a whole number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

export const source = {
  init(config) {
    rows = parse(config);
  },

  validate(config) {
    const n = parse(config);
    return { status: 'success', message: `generates ${n} rows`, details: [] };
  },

  discover() {
    return {
      streams: [
        {
          name: STREAM,
          schema: schemaStream(COLUMNS),
          supportedSyncModes: ['full-refresh', 'incremental'],
          sourceDefinedCursor: 'n',
          sourceDefinedPrimaryKey: ['n'],
          supportsPartitions: false,
        },
      ],
    };
  },

  read(request) {
    const summaries = [];
    for (const selection of request.streams) {
      if (selection.name !== STREAM) {
        throw fail('config', 'unknown_stream', `no stream \`${selection.name}\``);
      }
      const incremental = selection.syncMode === 'incremental';
      let start = 0;
      if (incremental) {
        const saved = getState(STREAM);
        if (saved !== undefined) start = JSON.parse(saved).last + 1;
      }
      // About 24 bytes of Arrow buffers per row; stay under the limit.
      const perBatch = Math.max(1, Math.min(65536, Number(selection.maxBatchBytes / 32n)));
      let records = 0;
      let size = 0;
      let batches = 0;
      for (let n = start; n < rows; ) {
        const end = Math.min(rows, n + perBatch);
        const values = [];
        const labels = [];
        for (let v = n; v < end; v++) {
          values.push(v);
          labels.push(v % 10 === 0 ? null : `row ${v} ✓`);
        }
        const ipc = batchStream(COLUMNS, [values, labels], end - n);
        emitBatch(STREAM, ipc);
        records += end - n;
        size += ipc.length;
        batches += 1;
        reportProgress(BigInt(records), BigInt(size));
        n = end;
      }
      if (incremental && rows > start) setState(STREAM, JSON.stringify({ last: rows - 1 }));
      summaries.push({ name: STREAM, records: BigInt(records), bytes: BigInt(size), batches: BigInt(batches) });
    }
    return { streams: summaries };
  },
};
