"""Merkle tree hashes and proofs in the shape of RFC 6962 / RFC 9162 (section 2.1).

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``; the tree of
``n`` leaves splits at the largest power of two below ``n``. Proofs are lists of 32-byte hashes;
the verifiers follow the RFC 9162 algorithms (2.1.3.2 inclusion, 2.1.4.2 consistency). Pure
functions over leaf hashes: the log itself is in :mod:`translog`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


class Tree:
    """The leaf hashes of a log with every subtree hash computed once (the proofs of a log of
    ``n`` leaves then cost O(log n) after an O(n) first root)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self._memo: dict[tuple[int, int], bytes] = {}

    def hash(self, lo: int, hi: int) -> bytes:
        """MTH of the leaves ``lo`` to ``hi`` (exclusive)."""
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[lo]
        found = self._memo.get((lo, hi))
        if found is None:
            k = _split(n)
            found = node_hash(self.hash(lo, lo + k), self.hash(lo + k, hi))
            self._memo[(lo, hi)] = found
        return found

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all by default)."""
        return self.hash(0, len(self.leaves) if size is None else size)

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]): the audit path of leaf ``index``."""
        size = len(self.leaves) if size is None else size
        if not 0 <= index < size <= len(self.leaves):
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:  # from the top down; the path is listed from the leaf up
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self.hash(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.hash(lo, lo + k))
                lo = lo + k
        return path[::-1]

    def consistency(self, first: int, size: int | None = None) -> list[bytes]:
        """PROOF(first, D[size]): that the first ``first`` leaves' tree is a prefix."""
        size = len(self.leaves) if size is None else size
        if not 0 < first <= size <= len(self.leaves):
            raise ValueError(f"no consistency proof from {first} to {size}")
        path: list[bytes] = []
        lo, hi, m, whole = 0, size, first, True
        while True:
            n = hi - lo
            if m == n:
                if not whole:
                    path.append(self.hash(lo, hi))
                break
            k = _split(n)
            if m <= k:
                path.append(self.hash(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.hash(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        return path[::-1]


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes ``leaves`` (the empty tree hashes the empty string)."""
    return Tree(leaves).root()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, leaves): the audit path of leaf ``index``."""
    return Tree(leaves).inclusion(index)


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, leaves): that the tree of the first ``first`` leaves is a prefix."""
    return Tree(leaves).consistency(first)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of
    ``size`` leaves whose root is ``expected_root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether ``proof`` shows the tree of ``first`` leaves (root
    ``first_root``) is a prefix of the tree of ``second`` leaves (root ``second_root``)."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof and first & (first - 1):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is the proof's start
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
