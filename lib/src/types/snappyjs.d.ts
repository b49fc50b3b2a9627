// snappyjs (a dependency) ships no type declarations; this is the part the checkpoint reader uses.
declare module "snappyjs" {
  /** Decompresses a raw Snappy block (throws on malformed input). */
  export function uncompress(data: Uint8Array): Uint8Array;
}
