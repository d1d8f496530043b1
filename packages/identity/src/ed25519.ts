/*! The curve definitions below are those of @noble/curves/ed25519 - MIT License (c) 2022 Paul Miller (paulmillr.com) */
import { twistedEdwards } from '@noble/curves/abstract/edwards'
import { Field, isNegativeLE, mod, pow2 } from '@noble/curves/abstract/modular'
import { montgomery } from '@noble/curves/abstract/montgomery'
import { sha512 } from '@noble/hashes/sha2'

// Why not `@noble/curves/ed25519`: that module also defines ristretto255 as a
// class with static properties assigned after it, which bundlers must keep
// (an assignment may have side effects), so every browser bundle paid ~3 KiB
// minified (1.5 KiB gzipped) for code nobody calls. These are the same curves
// on the same audited noble engine (`twistedEdwards`, `montgomery`), with
// @noble/curves' own parameters and helpers; only ristretto and
// hash-to-curve are left out. Shared by @ms/shs and @ms/noise (one copy per app).

// p = 2^255 - 19
const P = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffedn

/** x^((p-5)/8) (to get x^((p+3)/8) multiply by x) and x^3, by an addition chain (from @noble/curves). */
function pow_2_252_3(x: bigint): { pow_p_5_8: bigint; b2: bigint } {
  const x2 = (x * x) % P
  const b2 = (x2 * x) % P // x^3, 11
  const b4 = (pow2(b2, 2n, P) * b2) % P // x^15, 1111
  const b5 = (pow2(b4, 1n, P) * x) % P // x^31
  const b10 = (pow2(b5, 5n, P) * b5) % P
  const b20 = (pow2(b10, 10n, P) * b10) % P
  const b40 = (pow2(b20, 20n, P) * b20) % P
  const b80 = (pow2(b40, 40n, P) * b40) % P
  const b160 = (pow2(b80, 80n, P) * b80) % P
  const b240 = (pow2(b160, 80n, P) * b80) % P
  const b250 = (pow2(b240, 10n, P) * b10) % P
  const pow_p_5_8 = (pow2(b250, 2n, P) * x) % P
  return { pow_p_5_8, b2 }
}

/** RFC 7748 section 5: clamp 32 random bytes to an X25519 scalar. */
function adjustScalarBytes(bytes: Uint8Array): Uint8Array {
  bytes[0]! &= 248
  bytes[31]! &= 127
  bytes[31]! |= 64
  return bytes
}

// sqrt(-1) = 2^((p-1)/4)
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n

/** sqrt(u/v) in constant time (RFC 8032 5.1.3), as @noble/curves computes it. */
function uvRatio(u: bigint, v: bigint): { isValid: boolean; value: bigint } {
  const v3 = mod(v * v * v, P) // v³
  const v7 = mod(v3 * v3 * v, P) // v⁷
  const pow = pow_2_252_3(u * v7).pow_p_5_8
  let x = mod(u * v3 * pow, P) // (uv³)(uv⁷)^(p-5)/8
  const vx2 = mod(v * x * x, P) // vx²
  const root1 = x
  const root2 = mod(x * SQRT_M1, P)
  const useRoot1 = vx2 === u // vx² = u: x is a square root
  const useRoot2 = vx2 === mod(-u, P) // vx² = -u: x * 2^((p-1)/4) is
  const noRoot = vx2 === mod(-u * SQRT_M1, P) // no root; root2 is returned anyway, for constant time
  if (useRoot1) x = root1
  if (useRoot2 || noRoot) x = root2
  if (isNegativeLE(x, P)) x = mod(-x, P)
  return { isValid: useRoot1 || useRoot2, value: x }
}

/** Ed25519 (RFC 8032) on @noble/curves, the object `@noble/curves/ed25519` exports as `ed25519`. */
export const ed25519 = /* @__PURE__ */ twistedEdwards({
  n: 0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3edn,
  h: 8n,
  a: 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffecn,
  d: 0x52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3n,
  Gx: 0x216936d3cd6e53fec0a4e231fdd6dc5c692cc7609525a7b2c9562d608f25d51an,
  Gy: 0x6666666666666666666666666666666666666666666666666666666666666658n,
  Fp: /* @__PURE__ */ Field(P, { isLE: true }),
  hash: sha512,
  adjustScalarBytes,
  uvRatio,
})

/** X25519 (RFC 7748) on @noble/curves, the object `@noble/curves/ed25519` exports as `x25519`. */
export const x25519 = /* @__PURE__ */ montgomery({
  P,
  type: 'x25519',
  // x^(p-2) = x^(2^255-21)
  powPminus2: (x) => {
    const { pow_p_5_8, b2 } = pow_2_252_3(x)
    return mod(pow2(pow_p_5_8, 3n, P) * b2, P)
  },
  adjustScalarBytes,
})
