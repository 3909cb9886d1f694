/**
 * upstream parity: the asymmetric JWS algorithms SPIRE's Azure plugins accept (go-jose's RSA, ECDSA and
 * RSA-PSS families) — for managed-identity tokens (allowedJWTSignatureAlgorithms) and for the client
 * assertion files of `token_auth`. HS* and `none` are never among them.
 */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const
