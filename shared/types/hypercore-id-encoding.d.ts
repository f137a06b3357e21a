declare module 'hypercore-id-encoding' {
  const idEncoding: {
    encode(key: Uint8Array): string
    decode(id: string | Uint8Array): Buffer
    normalize(id: string | Uint8Array): string
    isValid(id: unknown): boolean
  }
  export default idEncoding
}
