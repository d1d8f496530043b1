// The subset of sodium-native 5 this package calls. sodium-native ships no
// types and @types/sodium-native describes an older, Buffer-only API.
declare module 'sodium-native' {
  type Bytes = Uint8Array
  const sodium: {
    randombytes_buf(out: Bytes): void
    crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void
    crypto_hash_sha512(out: Bytes, message: Bytes): void
    crypto_generichash(out: Bytes, message: Bytes, key?: Bytes): void
    crypto_generichash_batch(out: Bytes, batch: Bytes[], key?: Bytes): void
    crypto_aead_chacha20poly1305_ietf_encrypt(out: Bytes, message: Bytes, ad: Bytes | null, nsec: null, nonce: Bytes, key: Bytes): number
    crypto_aead_chacha20poly1305_ietf_decrypt(out: Bytes, nsec: null, cipher: Bytes, ad: Bytes | null, nonce: Bytes, key: Bytes): number
    crypto_scalarmult_ed25519_base_noclamp(out: Bytes, scalar: Bytes): void
    crypto_scalarmult_ed25519_noclamp(out: Bytes, scalar: Bytes, point: Bytes): void
    crypto_secretstream_xchacha20poly1305_init_push(state: Bytes, header: Bytes, key: Bytes): void
    crypto_secretstream_xchacha20poly1305_push(state: Bytes, out: Bytes, message: Bytes, ad: Bytes | null, tag: number): number
    crypto_secretstream_xchacha20poly1305_init_pull(state: Bytes, header: Bytes, key: Bytes): void
    crypto_secretstream_xchacha20poly1305_pull(state: Bytes, out: Bytes, tag: Bytes, cipher: Bytes, ad: Bytes | null): number
    sodium_memzero(bytes: Bytes): void
    crypto_core_ed25519_add(out: Bytes, a: Bytes, b: Bytes): void
  }
  export default sodium
}
