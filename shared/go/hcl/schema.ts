// Schema builders for decodeConfig. A schema is plain data; `Infer` turns it into the result type.
// Every field is optional in the result unless wrapped in `h.required`.

export interface StringSchema<R extends boolean = boolean> {
  readonly kind: 'string'
  readonly required: R
}
export interface BoolSchema<R extends boolean = boolean> {
  readonly kind: 'bool'
  readonly required: R
}
/** A 64-bit integer, read as Go's strconv.ParseInt(text, 0, 64) does; also from a string. */
export interface IntSchema<R extends boolean = boolean> {
  readonly kind: 'int'
  readonly required: R
}
/** A float64, read as Go's strconv.ParseFloat does. */
export interface NumberSchema<R extends boolean = boolean> {
  readonly kind: 'number'
  readonly required: R
}
export interface ListSchema<E extends Schema = Schema, R extends boolean = boolean> {
  readonly kind: 'list'
  readonly of: E
  readonly required: R
}
/** String keys kept exactly as written (tenant IDs, domains); values all of one schema. */
export interface MapSchema<E extends Schema = Schema, R extends boolean = boolean> {
  readonly kind: 'map'
  readonly of: E
  readonly required: R
}
/** Named fields, matched case-insensitively like HCL v1 struct fields. */
export interface ObjectSchema<F extends Fields = Fields, R extends boolean = boolean> {
  readonly kind: 'object'
  readonly fields: F
  readonly required: R
}

export type Schema =
  StringSchema | BoolSchema | IntSchema | NumberSchema | ListSchema | MapSchema | ObjectSchema

export type SchemaKind = Schema['kind']

export interface Fields {
  readonly [name: string]: Schema
}

/** The same schema, marked required. */
export type RequiredSchema<S extends Schema> = {
  [K in keyof S]: K extends 'required' ? true : S[K]
}

/** The TypeScript type a schema decodes to (`unknown` for the wide `Schema` type itself). */
export type Infer<S> = Schema extends S
  ? unknown
  : S extends { readonly kind: 'string' }
    ? string
    : S extends { readonly kind: 'bool' }
      ? boolean
      : S extends { readonly kind: 'int' | 'number' }
        ? number
        : S extends { readonly kind: 'list'; readonly of: infer E }
          ? Infer<E>[]
          : S extends { readonly kind: 'map'; readonly of: infer E }
            ? Record<string, Infer<E>>
            : S extends { readonly kind: 'object'; readonly fields: infer F }
              ? InferFields<F>
              : never

type RequiredKeys<F> = {
  [K in keyof F]: F[K] extends { readonly required: true } ? K : never
}[keyof F]

/** The result type of an object schema's fields: optional unless required. */
export type InferFields<F> = Simplify<
  { [K in RequiredKeys<F>]: Infer<F[K]> } & {
    [K in Exclude<keyof F, RequiredKeys<F>>]?: Infer<F[K]>
  }
>

type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** Schema builders: `h.object({ tenants: h.map(h.object({ resource_id: h.string() })) })`. */
export const h = {
  string: (): StringSchema<false> => ({ kind: 'string', required: false }),
  bool: (): BoolSchema<false> => ({ kind: 'bool', required: false }),
  int: (): IntSchema<false> => ({ kind: 'int', required: false }),
  number: (): NumberSchema<false> => ({ kind: 'number', required: false }),
  list: <E extends Schema>(of: E): ListSchema<E, false> => ({ kind: 'list', of, required: false }),
  map: <E extends Schema>(of: E): MapSchema<E, false> => ({ kind: 'map', of, required: false }),
  object: <F extends Fields>(fields: F): ObjectSchema<F, false> => ({
    kind: 'object',
    fields,
    required: false,
  }),
  required: <S extends Schema>(schema: S): RequiredSchema<S> =>
    // the mapped type is exactly S with `required: true`; TS cannot see that through the spread
    ({ ...schema, required: true }) as unknown as RequiredSchema<S>,
}
