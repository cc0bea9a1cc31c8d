import { describe, expect, it } from 'vitest';
import {
  labelsMatch,
  namespaceLabelParam,
  namespaceSelected,
} from '../src/engine/namespace-selector.js';

const cluster = {
  namespaceLabels: (ns: string) =>
    ns === 'billing' ? { 'phi-guard.io/phi': 'true', team: 'billing' } : undefined,
};

describe('namespace selector', () => {
  it.each([
    ['key=value present', { a: 'b' }, 'a=b', true],
    ['key=value with another value', { a: 'c' }, 'a=b', false],
    ['bare key present', { 'example.com/a': '' }, 'example.com/a', true],
    ['bare key absent', { b: 'x' }, 'a', false],
    ['key= means empty value', { a: '' }, 'a=', true],
    ['no labels known', undefined, 'a=b', false],
    ['inherited property is not a label', {}, 'constructor', false],
  ])('%s', (_name, labels, selector, expected) => {
    expect(labelsMatch(labels, selector)).toBe(expected);
  });

  it.each([
    ['name glob', 'phi-prod', ['phi-*'], '', true],
    ['label through the cluster lookup', 'billing', [], 'phi-guard.io/phi=true', true],
    ['unknown namespace', 'other', [], 'phi-guard.io/phi=true', false],
    ['cluster-scoped request', '', ['*'], 'phi-guard.io/phi=true', false],
  ])('selects by %s', (_name, ns, names, label, expected) => {
    expect(namespaceSelected(cluster, ns, names, label)).toBe(expected);
  });

  it.each(['a=b', 'example.com/a', '', 'a='])('parameter accepts %j', (value) => {
    expect(namespaceLabelParam('x').safeParse(value).success).toBe(true);
  });

  it.each(['=b', 'a b', 'a=b=c', '/a'])('parameter refuses %j', (value) => {
    expect(namespaceLabelParam('x').safeParse(value).success).toBe(false);
  });
});
