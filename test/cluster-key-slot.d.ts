// cluster-key-slot comes with ioredis (its Cluster client routes keys with it); it ships no types.
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of a key, honouring its hash tag. */
  export default function calculateSlot(key: string): number;
}
