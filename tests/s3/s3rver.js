// s3rver.js MODULE_DIR DATA_DIR PORT_FILE: runs s3rver (path style, on
// 127.0.0.1, a free port) with its data in DATA_DIR and writes the port to
// PORT_FILE once it listens.  Started by tests/s3/server.
'use strict';
const fs = require('fs');
const path = require('path');
const [moduleDir, dataDir, portFile] = process.argv.slice(2);
const bucketCtrl = require(path.join(moduleDir, 'lib/controllers/bucket'));
const S3Error = require(path.join(moduleDir, 'lib/models/error'));
const S3Object = require(path.join(moduleDir, 'lib/models/object'));
const FilesystemStore = require(path.join(moduleDir, 'lib/stores/filesystem'));
const S3rver = require(moduleDir);

// DELETE: after unlinking the object's files, s3rver removes the directories
// left empty, and two DELETEs in one directory at once race there (ENOENT,
// ENOTEMPTY): the object is gone but the answer is 500.  Those errors are
// ignored (the cleanup is s3rver's own housekeeping).
const s3rverDeleteObject = FilesystemStore.prototype.deleteObject;
FilesystemStore.prototype.deleteObject = async function deleteObject(...args) {
  try {
    await s3rverDeleteObject.apply(this, args);
  } catch (err) {
    if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY') throw err;
  }
};

// ListObjectsV2 (list-type=2) replaced: s3rver 3.7.1's listing
// * misses a common prefix holding no object directly (prefix a/, delimiter
//   /, and only a/b/c stored: no CommonPrefixes a/b/), since it does not walk
//   down past one level below the prefix;
// * lists keys in the order of the files on disk (a dir "x" before
//   "x-y._S3rver_object"), not in UTF-8 byte order, so a continuation token
//   (the last key) can skip or repeat keys such as "x-y" and "x/z";
// * pages by keys only (common prefixes do not count towards max-keys; a
//   page ending in prefixes repeats them on the next one; KeyCount leaves
//   them out).
// This one does what S3 documents: keys and common prefixes in one sorted
// sequence, max-keys of them per page (1000 at most), KeyCount counting both,
// start-after / continuation-token both meaning "after this item".  Listing
// v1 and everything else stay s3rver's.
const S3RVER_OBJECT = '._S3rver_object';
function keysUnder(root, prefix) {
  const keys = [];
  const walk = rel => {
    let names;
    try {
      names = fs.readdirSync(path.join(root, rel));
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const r = rel ? rel + '/' + name : name;
      if (fs.statSync(path.join(root, r)).isDirectory()) {
        const dirKey = r + '/';
        if (dirKey.startsWith(prefix) || prefix.startsWith(dirKey)) walk(r);
      } else if (name.endsWith(S3RVER_OBJECT)) {
        const key = r.slice(0, -S3RVER_OBJECT.length);
        if (key.startsWith(prefix)) keys.push(key);
      }
    }
  };
  walk('');
  const bytes = new Map(keys.map(k => [k, Buffer.from(k, 'utf8')]));
  return keys.sort((a, b) => Buffer.compare(bytes.get(a), bytes.get(b)));
}
const after = (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) > 0;

const s3rverGetBucket = bucketCtrl.getBucket;
bucketCtrl.getBucket = async function getBucket(ctx) {
  const q = ctx.query;
  if (q['list-type'] !== '2' || 'marker' in q) return s3rverGetBucket(ctx);
  if (q['max-keys'] !== undefined && !/^\d+$/.test(q['max-keys'])) {
    return s3rverGetBucket(ctx); // its error
  }
  const bucket = ctx.params.bucket;
  const maxKeys = Math.min(1000, q['max-keys'] === undefined ? 1000 : Number(q['max-keys']));
  const prefix = q.prefix || '';
  const delimiter = q.delimiter || '';
  let start = q['start-after'] || '';
  const token = q['continuation-token'];
  if (token !== undefined) {
    const m = /^s3test\n([^\n]*)\n([^]*)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
    if (!m || m[1] !== bucket) {
      throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
        ArgumentName: 'continuation-token',
      });
    }
    start = m[2];
  }
  const objects = [];
  const prefixes = [];
  let last;
  let truncated = false;
  for (const key of keysUnder(ctx.store.getBucketPath(bucket), prefix)) {
    let item = key;
    if (delimiter) {
      const i = key.indexOf(delimiter, prefix.length);
      if (i !== -1) item = key.slice(0, i + delimiter.length);
    }
    if (item === last || (start && !after(item, start))) continue;
    if (objects.length + prefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    last = item;
    if (item === key) objects.push(key);
    else prefixes.push(item);
  }
  const metadata = await Promise.all(
    objects.map(key => ctx.store.getMetadata(bucket, key).catch(() => undefined)),
  );
  const found = objects
    .map((key, i) => metadata[i] && new S3Object(bucket, key, null, metadata[i]))
    .filter(Boolean);
  ctx.body = {
    ListBucketResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Name: bucket,
      Prefix: prefix,
      StartAfter: token === undefined ? q['start-after'] : undefined,
      ContinuationToken: token,
      NextContinuationToken: truncated
        ? Buffer.from(`s3test\n${bucket}\n${last}`, 'utf8').toString('base64')
        : undefined,
      KeyCount: found.length + prefixes.length,
      MaxKeys: q['max-keys'] || 1000,
      Delimiter: delimiter || undefined,
      IsTruncated: truncated,
      Contents: found.map(object => ({
        Key: object.key,
        LastModified: object.lastModifiedDate.toISOString(),
        ETag: object.metadata['etag'],
        Size: object.size,
        StorageClass: 'STANDARD',
      })),
      CommonPrefixes: prefixes.map(p => ({ Prefix: p })),
    },
  };
};
new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dataDir,
  silent: process.env.S3RVER_VERBOSE !== "1",
  vhostBuckets: false,
})
  .run()
  .then(({ port }) => {
    fs.writeFileSync(portFile + '.tmp', port + '\n');
    fs.renameSync(portFile + '.tmp', portFile);
  })
  .catch(err => {
    console.error('s3rver: ' + err);
    process.exit(1);
  });
