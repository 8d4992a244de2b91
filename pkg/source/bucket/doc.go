// Package bucket is the S3-compatible bucket kind of source (Flux's
// Bucket, provider generic): a source.Source that lists a bucket below a
// prefix and downloads its objects, through github.com/minio/minio-go/v7.
//
// # Revision
//
// The revision is Flux's "sha256:<hex>": the SHA-256 of the listing, one
// line "<key> <etag>\n" per object in byte order of the keys. Resolve
// costs one LIST request per 1,000 objects (S3 pages listings) and no
// download, so an unchanged bucket costs one request per run. Keys that
// end in "/" (folder markers) are neither fetched nor digested, as in Flux.
// The region is never asked for: requests are signed for Options.Region
// (default us-east-1), which saves a request per run.
//
// # Fetch
//
// Fetch downloads exactly the listing Resolve saw (listing again only when
// it has none for the revision), Options.Concurrency objects at a time.
// Every GET carries If-Match with the listed ETag, and the answer's ETag
// and length are compared with the listing: an object that changed or
// went away since the listing fails the fetch (ErrChanged), so a fetched
// tree is always exactly one revision, never a mix. The next run lists
// the new state.
//
// # Limits and confinement
//
// Each object is written to the path its key names, below the fetch
// directory (the key in full, prefix included, as Flux does). The listing
// is checked before anything is downloaded; these fail the whole source
// with an error naming the key, and nothing is fetched:
//
//   - a key that is not a clean relative path: absolute, with "." or ".."
//     components, empty components ("a//b"), or control characters
//     (ErrUnsafeKey);
//   - a key that is also the directory of another key ("a" and "a/b");
//   - more objects than Options.MaxObjects, or more bytes in all than
//     Options.MaxSize (source.ErrTooLarge).
//
// Files are created through an os.Root of the directory, so no write can
// leave it even if the checks above had a hole, and each download is cut
// at its listed length.
//
// # Errors
//
// Every error starts with the bucket and its endpoint ("bucket configs at
// https://minio.example.com: ..."), never with a credential. A refused key
// pair wraps source.ErrAuthentication, a missing bucket
// source.ErrRefNotFound.
package bucket
