"""Little-endian byte writer/reader with bounds checks (every overrun is a PhcompError)."""
from __future__ import annotations

import struct

from .errors import PhcompError


class ByteWriter:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, v: int) -> None:
        self._parts.append(struct.pack("<B", v))

    def i8(self, v: int) -> None:
        self._parts.append(struct.pack("<b", v))

    def u16(self, v: int) -> None:
        self._parts.append(struct.pack("<H", v))

    def u32(self, v: int) -> None:
        self._parts.append(struct.pack("<I", v))

    def u64(self, v: int) -> None:
        self._parts.append(struct.pack("<Q", v))

    def f64(self, v: float) -> None:
        self._parts.append(struct.pack("<d", v))

    def raw(self, b: bytes) -> None:
        self._parts.append(bytes(b))

    def blob(self, b: bytes) -> None:
        """Length-prefixed (u64) bytes."""
        self.u64(len(b))
        self.raw(b)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


_structs: dict[str, struct.Struct] = {}


class ByteReader:
    def __init__(self, buf: bytes | memoryview, what: str = "chunk") -> None:
        self._buf = memoryview(buf)
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, n: int) -> memoryview:
        if n < 0 or n > self.remaining:
            raise PhcompError(
                f"truncated or corrupt {self._what}: need {n} bytes at offset {self._pos}, "
                f"{self.remaining} left"
            )
        v = self._buf[self._pos : self._pos + n]
        self._pos += n
        return v

    def _unpack(self, fmt: str, n: int):
        return struct.unpack(fmt, self._take(n))[0]

    def u8(self) -> int:
        return self._unpack("<B", 1)

    def i8(self) -> int:
        return self._unpack("<b", 1)

    def u16(self) -> int:
        return self._unpack("<H", 2)

    def u32(self) -> int:
        return self._unpack("<I", 4)

    def u64(self) -> int:
        return self._unpack("<Q", 8)

    def f64(self) -> float:
        return self._unpack("<d", 8)

    def raw(self, n: int) -> bytes:
        return bytes(self._take(n))

    def fields(self, fmt: str) -> tuple:
        """Several little-endian fields at once (struct format ``fmt``, starting with "<")."""
        st = _structs.get(fmt)
        if st is None:
            st = _structs[fmt] = struct.Struct(fmt)
        return st.unpack(self._take(st.size))

    def blob(self) -> bytes:
        return self.raw(self.u64())

    def expect_end(self) -> None:
        if self.remaining:
            raise PhcompError(f"corrupt {self._what}: {self.remaining} unexpected trailing bytes")
