// s3rver.js - starts @20minutes/s3rver (an S3-compatible server that checks
// SigV4 signatures; access key and secret both "S3RVER") on 127.0.0.1 for
// sheetq's integration tests.
//
//   node tests/s3/s3rver.js DIR BUCKET [PORT]
//
// DIR holds the objects; BUCKET is created at start. PORT 0 (the default)
// takes a free port. Once the server listens it prints one line,
// "listening PORT", on stdout; it runs until SIGTERM/SIGINT.
'use strict';

const S3rver = require('@20minutes/s3rver');

const [directory, bucket, portArg] = process.argv.slice(2);
if (!directory || !bucket) {
  process.stderr.write('usage: node s3rver.js DIR BUCKET [PORT]\n');
  process.exit(2);
}

const server = new S3rver({
  port: Number(portArg || 0),
  address: '127.0.0.1',
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});

server.run().then(
  (address) => {
    process.stdout.write(`listening ${address.port}\n`);
  },
  (err) => {
    process.stderr.write(`s3rver: ${err.message}\n`);
    process.exit(1);
  },
);

const stop = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
