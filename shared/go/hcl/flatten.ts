// HCL v1's JSON-mode flattening (json/parser/flatten.go): Go's JSON parser turns `{"a": {"b": {...}}}`
// into the multi-key item `a b {...}` and a list of objects into repeated items, so that JSON reads like
// HCL blocks. Decoded values do not change, so `parseHcl` skips it; SPIRE's plugin lookup and its
// re-printing of `plugin_data` see the flattened shape, so the tools that reproduce those use this.
import type { Node, ObjectItem } from './ast.js'

/** The items as Go's JSON parser leaves them after flattening (a new tree; the input is unchanged). */
export function flattenJsonItems(items: readonly ObjectItem[]): ObjectItem[] {
  const flat: ObjectItem[] = []
  const frontier = [...items]
  for (let item = frontier.pop(); item !== undefined; item = frontier.pop()) {
    const val = item.val
    if (val.kind === 'object') {
      // an empty object, or one with any non-object member, stays as it is
      if (val.items.length === 0 || val.items.some((sub) => sub.val.kind !== 'object')) {
        flat.push(item)
        continue
      }
      for (const sub of val.items) {
        frontier.push(withVal(item, [...item.keys, ...sub.keys], sub.val))
      }
    } else if (val.kind === 'list') {
      if (val.elems.length === 0 || val.elems.some((elem) => elem.kind !== 'object')) {
        flat.push(item)
        continue
      }
      for (const elem of val.elems) frontier.push(withVal(item, item.keys, elem))
    } else {
      flat.push(item)
    }
  }
  // the frontier runs backwards
  flat.reverse()
  return flat.map((item) => ({ ...item, val: flattenNode(item.val) }))
}

function flattenNode(node: Node): Node {
  if (node.kind === 'object') return { ...node, items: flattenJsonItems(node.items) }
  if (node.kind === 'list') return { ...node, elems: node.elems.map(flattenNode) }
  return node
}

function withVal(item: ObjectItem, keys: ObjectItem['keys'], val: Node): ObjectItem {
  const next: ObjectItem = { keys, val }
  if (item.assign !== undefined) next.assign = item.assign
  return next
}
