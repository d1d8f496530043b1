// The subset of sodium-native 5 that @ms/shs and the soak call (a copy of
// packages/shs/src/crypto/sodium-native.d.ts: sodium-native ships no types).
declare module 'sodium-native' {
  type Bytes = Uint8Array
  const sodium: {
    randombytes_buf(out: Bytes): void
    crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void
    crypto_sign_detached(sig: Bytes, message: Bytes, sk: Bytes): void
    crypto_sign_verify_detached(sig: Bytes, message: Bytes, pk: Bytes): boolean
    crypto_sign_ed25519_pk_to_curve25519(out: Bytes, pk: Bytes): void
    crypto_sign_ed25519_sk_to_curve25519(out: Bytes, sk: Bytes): void
    crypto_scalarmult_base(out: Bytes, sk: Bytes): void
    crypto_scalarmult(out: Bytes, sk: Bytes, pk: Bytes): void
    crypto_hash_sha256(out: Bytes, message: Bytes): void
    crypto_auth(out: Bytes, message: Bytes, key: Bytes): void
    crypto_auth_verify(tag: Bytes, message: Bytes, key: Bytes): boolean
    crypto_secretbox_easy(out: Bytes, message: Bytes, nonce: Bytes, key: Bytes): void
    crypto_secretbox_open_easy(out: Bytes, box: Bytes, nonce: Bytes, key: Bytes): boolean
    crypto_secretbox_detached(out: Bytes, mac: Bytes, message: Bytes, nonce: Bytes, key: Bytes): void
    crypto_secretbox_open_detached(out: Bytes, cipher: Bytes, mac: Bytes, nonce: Bytes, key: Bytes): boolean
    sodium_memzero(bytes: Bytes): void
  }
  export default sodium
}
