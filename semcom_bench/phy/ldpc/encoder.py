"""Systematic encoder of a lifted 5G base graph, vectorised over codewords (torch, any device).

5G's parity part is ``[core | extension]``: the 4 core parity block columns solve the first 4 block rows
(``B p = lambda`` with ``B`` "double diagonal": the sum of its rows leaves one shifted identity on the first core
column), and every later block row ``r`` owns one extension parity block column (identity, shift 0) that equals the
sum of that row's other blocks. So encoding costs one ``(batch, Z)`` gather + add per base-graph edge of the rows
that are needed; no dense generator matrix, no ``Z x Z`` inverse.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch


class QCEncoder:
    """Encoder of the code defined by block rows ``rows[r] = [(block column, shift), ...]`` and lifting ``z``.

    ``k_b`` block columns of information, then 4 core parity columns, then one extension column per row from row 4
    on. Only the given rows are encoded (the rows that produce sent bits).
    """

    def __init__(self, rows: list[list[tuple[int, int]]], z: int, k_b: int) -> None:
        self.z, self.k_b = z, k_b
        self.num_vars = (k_b + max(4, len(rows))) * z
        core = range(k_b, k_b + 4)
        # Sum of the 4 core rows over the core columns: every column but one cancels (each shift appears twice).
        left = {c: {s for s, times in Counter(s for r in rows[:4] for col, s in r if col == c).items() if times % 2}
                for c in core}  # fmt: skip
        first = [c for c in core if left[c]]
        if len(first) != 1 or len(left[first[0]]) != 1:
            raise ValueError("not a 5G double-diagonal core")  # cannot happen for the 38.212 base graphs
        self._first_col, self._first_shift = first[0], next(iter(left[first[0]]))
        # Solve the other core columns row by row, each row having one unknown left (as 38.212's structure allows).
        known, self._core_steps = {self._first_col}, []
        while len(known) < 4:
            r, col, shift = next(
                (r, col, s) for r in range(4) for col, s in rows[r]
                if col in core and col not in known and sum(c in core and c not in known for c, _ in rows[r]) == 1
            )  # fmt: skip
            self._core_steps.append((r, col, shift, [(c, s) for c, s in rows[r] if c in known]))
            known.add(col)
        for r in range(4, len(rows)):
            if (k_b + r, 0) not in rows[r]:
                raise ValueError("extension block is not an identity")  # cannot happen for the 38.212 base graphs
        self._rows = rows
        self._ar = torch.arange(z)
        self._info_idx = [
            torch.tensor([c * z + (s + i) % z for c, s in r if c < k_b for i in range(z)], dtype=torch.int64).view(-1, z)
            for r in rows
        ]

    def _block(self, col: int, shift: int, device: torch.device) -> torch.Tensor:
        """Indices of block column ``col`` as seen by the ``Z`` checks of a block with cyclic ``shift``."""
        return col * self.z + (self._ar.to(device) + shift) % self.z

    def __call__(self, info: torch.Tensor) -> torch.Tensor:
        """``info`` ``(B, k_b * Z)`` uint8 (filler bits included) -> ``(B, num_vars)`` uint8 mother-code prefix."""
        batch, z, dev = info.shape[0], self.z, info.device
        word = torch.zeros(batch, self.num_vars, dtype=torch.uint8, device=dev)
        word[:, : self.k_b * z] = info
        # lambda_r: row r's information blocks summed (mod 2 later)
        lam = [
            word.index_select(1, idx.to(dev).flatten()).view(batch, *idx.shape).sum(dim=1, dtype=torch.int32)
            for idx in self._info_idx
        ]

        def block(col: int, shift: int) -> torch.Tensor:
            return word.index_select(1, self._block(col, shift, dev))

        def put(col: int, shift: int, acc: torch.Tensor) -> None:
            word.index_copy_(1, self._block(col, shift, dev), (acc & 1).to(torch.uint8))

        # First core column: P_s p = sum of the core rows' lambdas, i.e. p[(i + s) mod Z] = sum[i].
        put(self._first_col, self._first_shift, lam[0] + lam[1] + lam[2] + lam[3])
        for r, col, shift, known in self._core_steps:
            put(col, shift, lam[r] + sum(block(c, s) for c, s in known))
        for r in range(4, len(self._rows)):
            put(self.k_b + r, 0, lam[r] + sum(block(c, s) for c, s in self._rows[r] if self.k_b <= c < self.k_b + 4))
        return word


def rows_from_blocks(blk_ptr: np.ndarray, blk_col: np.ndarray, blk_shift: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per-row ``(block column, shift)`` lists from the CSR-like block arrays."""
    return [
        [(int(c), int(s)) for c, s in zip(blk_col[blk_ptr[r] : blk_ptr[r + 1]], blk_shift[blk_ptr[r] : blk_ptr[r + 1]])]
        for r in range(len(blk_ptr) - 1)
    ]
