declare module 'hypercore-crypto' {
  export interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  const crypto: {
    keyPair(seed?: Uint8Array): KeyPair
    hash(data: Uint8Array | Uint8Array[]): Buffer
    discoveryKey(publicKey: Uint8Array): Buffer
    randomBytes(n: number): Buffer
  }
  export default crypto
}
