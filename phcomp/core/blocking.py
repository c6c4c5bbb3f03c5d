"""Arrays <-> blocks over the trailing dims (leading dims are batch), in slabs of bounded size.

An array whose ndim is below the block's is viewed with leading unit axes. Partial edge
blocks are padded by repeating the edge value. Work goes slab by slab so memory stays a few
times one slab: a slab is either a run of whole batch items or a run of block-rows of one
item, and in both cases a contiguous range of the array in C order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

def slab_values_for(size: int) -> int:
    """Values per slab: small arrays get small slabs (their temporaries stay a small multiple of
    the array), large ones bigger slabs (more efficient GEMMs). Slabs never change the bytes."""
    return int(min(1 << 18, max(1 << 15, size // 16)))


@dataclass(frozen=True)
class Slab:
    b0: int  # batch items [b0, b1)
    b1: int
    r0: int  # block rows along the first blocked axis [r0, r1)
    r1: int
    block0: int  # index of the slab's first block in the chunk
    nblocks: int
    elem0: int  # C-order flat index of the slab's first value
    nelems: int


class Blocking:
    def __init__(self, shape: tuple[int, ...], block: tuple[int, ...], slab_values: int | None = None):
        nd = len(block)
        full = (1,) * max(0, nd - len(shape)) + tuple(shape)
        self.block = tuple(block)
        self.spatial = full[len(full) - nd :]
        self.batch = int(np.prod(full[: len(full) - nd], dtype=np.int64))
        self.grid = tuple(-(-s // b) for s, b in zip(self.spatial, block))
        self.padded = tuple(g * b for g, b in zip(self.grid, block))
        self.item_values = int(np.prod(self.spatial, dtype=np.int64))
        self.blocks_per_row = int(np.prod(self.grid[1:], dtype=np.int64))
        self.blocks_per_item = self.grid[0] * self.blocks_per_row
        self.nblocks = self.batch * self.blocks_per_item
        self.block_size = int(np.prod(block))
        self._slab_values = slab_values or slab_values_for(self.batch * self.item_values)

    def view(self, x: np.ndarray) -> np.ndarray:
        """The array as (batch, *spatial) (a view when possible)."""
        return x.reshape((self.batch,) + self.spatial)

    def slabs(self) -> list[Slab]:
        out: list[Slab] = []
        row_values = self.block[0] * int(np.prod(self.padded[1:], dtype=np.int64))
        if self.item_values == 0 or self.batch == 0:
            return out
        row_elems = self.item_values // self.spatial[0] * self.block[0]
        if self.item_values >= self._slab_values:
            rows = max(1, self._slab_values // row_values)
            for b in range(self.batch):
                for r0 in range(0, self.grid[0], rows):
                    r1 = min(self.grid[0], r0 + rows)
                    e0 = b * self.item_values + r0 * row_elems
                    e1 = b * self.item_values + min(r1 * row_elems, self.item_values)
                    out.append(Slab(b, b + 1, r0, r1, b * self.blocks_per_item + r0 * self.blocks_per_row,
                                    (r1 - r0) * self.blocks_per_row, e0, e1 - e0))
        else:
            items = max(1, self._slab_values // max(self.item_values, 1))
            for b0 in range(0, self.batch, items):
                b1 = min(self.batch, b0 + items)
                out.append(Slab(b0, b1, 0, self.grid[0], b0 * self.blocks_per_item, (b1 - b0) * self.blocks_per_item,
                                b0 * self.item_values, (b1 - b0) * self.item_values))
        return out

    def slab_original(self, xv: np.ndarray, s: Slab) -> np.ndarray:
        """The slab's values as stored (C-contiguous copy in the array's dtype, unpadded)."""
        b0 = self.block[0]
        return np.ascontiguousarray(xv[s.b0 : s.b1, s.r0 * b0 : s.r1 * b0])

    def slab_values(self, xv: np.ndarray, s: Slab) -> np.ndarray:
        """The slab's values (float64 copy, unpadded, shape (items, rows..., *spatial[1:]))."""
        return self.slab_original(xv, s).astype(np.float64)

    def to_blocks(self, sub: np.ndarray, s: Slab) -> np.ndarray:
        """Slab values -> (nblocks, block_size), edge-padded."""
        nb = s.b1 - s.b0
        rows = s.r1 - s.r0
        target = (nb, rows * self.block[0]) + self.padded[1:]
        pad = [(0, t - n) for t, n in zip(target, sub.shape)]
        if any(p[1] for p in pad):
            sub = np.pad(sub, pad, mode="edge")
        nd = len(self.block)
        g = (rows,) + self.grid[1:]
        shp = [nb]
        for gi, bi in zip(g, self.block):
            shp += [gi, bi]
        v = sub.reshape(shp)
        order = [0] + [1 + 2 * i for i in range(nd)] + [2 + 2 * i for i in range(nd)]
        return v.transpose(order).reshape(-1, self.block_size)

    def from_blocks(self, blocks: np.ndarray, s: Slab) -> np.ndarray:
        """(nblocks, block_size) -> slab values (cropped), inverse of to_blocks."""
        nb = s.b1 - s.b0
        rows = s.r1 - s.r0
        nd = len(self.block)
        g = (rows,) + self.grid[1:]
        v = blocks.reshape((nb,) + g + self.block)
        order = [0]
        for i in range(nd):
            order += [1 + i, 1 + nd + i]
        full = v.transpose(order).reshape((nb,) + tuple(gi * bi for gi, bi in zip(g, self.block)))
        r_end = min(s.r1 * self.block[0], self.spatial[0]) - s.r0 * self.block[0]
        return full[(slice(None), slice(0, r_end)) + tuple(slice(0, n) for n in self.spatial[1:])]
