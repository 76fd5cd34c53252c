#!/usr/bin/env python3
"""Checks the include directions of src/ against scripts/layers.txt, and that
no module (x.c with x.h) is part of an include cycle. Exits 1 on a violation.
Usage: scripts/check-layers.py [repo root]"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..'))
SRC = os.path.join(ROOT, 'src')
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_rules():
    rules = {}
    with open(os.path.join(ROOT, 'scripts', 'layers.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            name, _, allowed = line.partition(':')
            rules[name.strip()] = allowed.split()
    return rules


def files():
    for d, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(('.c', '.h')):
                yield os.path.relpath(os.path.join(d, n), SRC)


def layer_of(rel, rules):
    if rel.replace(os.sep, '/') in rules:
        return rel.replace(os.sep, '/')  # a file that is a layer of its own
    parts = os.path.dirname(rel).split(os.sep)
    while parts:
        cand = '/'.join(parts)
        if cand in rules:
            return cand
        parts.pop()
    return None


def resolve(rel, inc, known):
    """The src-relative path an include names: beside the file, under the
    program's folder (src/server/...), or in src/common."""
    here = os.path.dirname(rel)
    prog = rel.split(os.sep)[0]
    for base in (here, prog, 'common'):
        cand = os.path.normpath(os.path.join(base, inc))
        if cand in known:
            return cand
    return None


def module(rel):
    # A private header (x_priv.h) belongs to the module family it serves.
    m = os.path.splitext(rel)[0]
    return m[:-len('_priv')] if m.endswith('_priv') else m


def main():
    rules = read_rules()
    known = set(files())
    errors = []
    graph = {}
    for rel in sorted(known):
        layer = layer_of(rel, rules)
        if layer is None:
            errors.append(f'src/{rel}: in no layer of scripts/layers.txt')
            continue
        with open(os.path.join(SRC, rel), errors='replace') as f:
            text = f.read()
        for inc in INC.findall(text):
            target = resolve(rel, inc, known)
            if target is None:
                continue  # a system or generated header
            tl = layer_of(target, rules)
            short = target[len('server/'):] if target.startswith('server/') else target
            ok = (tl == layer or tl in rules[layer] or short in rules[layer])
            if not ok:
                errors.append(f'src/{rel}: includes "{inc}" ({tl} is not below {layer})')
            a, b = module(rel), module(target)
            if a != b:
                graph.setdefault(a, set()).add(b)
    # Cycles between modules (Tarjan's strongly connected components).
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in comps:
        errors.append('include cycle: ' + ' <-> '.join(comp))
    for e in errors:
        print(e)
    if errors:
        print(f'check-layers: {len(errors)} problem(s)')
        return 1
    print(f'check-layers: {len(known)} files, includes go downward, no cycle')
    return 0


if __name__ == '__main__':
    sys.exit(main())
