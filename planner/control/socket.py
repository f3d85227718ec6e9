"""A robot behind a TCP socket: the worked example of wiring a robot that is not a gym env.

On the robot computer, `serve_robot(robot)` exposes any object with ``read()`` and
``send(action)`` (a driver, a simulator, a `GymRobot`) in a background thread. In the
planner process, `SocketRobot(host, port)` implements the `planner.control.Robot`
protocol over that connection, so `MPCController` and `LoopRunner` drive it like any
other robot.

Wire protocol (docs/CONTROL.md has the tables). Every integer and float is
little-endian; one request is answered by exactly one reply, in order.

Requests (client -> server), one opcode byte then the payload:

- ``'R'``: read. No payload.
- ``'S'``: send. ``u32 A`` then ``A`` x ``f32``: the action.
- ``'Q'``: quit. The server answers ``'K'`` and closes this connection (it then
  accepts the next client; the server itself keeps running).

Replies (server -> client), one status byte then the payload:

- ``'K'`` ok. To ``'R'``: ``u32 S``, ``S`` x ``f32`` observation, ``f64`` timestamp
  (seconds; the robot's ``stamp()`` when it has one, else the server's monotonic
  clock at the read), ``u8`` flags. To ``'S'``: ``u8`` flags. To ``'Q'``: nothing.
  Flags: bit 0 = the robot reports ``done`` (episode over); other bits are 0.
- ``'E'`` error: ``u32 n`` then ``n`` bytes of UTF-8 text. The robot's ``read()`` or
  ``send()`` raised, or the request was refused (wrong action size); the connection
  stays usable. After a malformed request (unknown opcode, oversized frame) the server
  sends ``'E'`` and closes the connection.

Frames carry at most `MAX_VALUES` floats. One client is served at a time (a second one
waits in the listen queue until the first quits or disconnects). Nothing received is
ever executed or unpickled: frames are parsed with `struct` and `numpy.frombuffer`.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from typing import Any

import numpy as np

__all__ = ["MAX_VALUES", "ProtocolError", "RemoteError", "RobotServer", "SocketRobot", "serve_robot"]

#: Largest observation or action (in float32 values) a frame may carry, both ways.
MAX_VALUES = 1 << 16
#: Largest error message (bytes) a frame may carry.
MAX_MESSAGE = 1 << 16

OP_READ, OP_SEND, OP_QUIT = b"R", b"S", b"Q"
ST_OK, ST_ERROR = b"K", b"E"
FLAG_DONE = 0x01

_U32 = struct.Struct("<I")
_STAMP_FLAGS = struct.Struct("<dB")
_F32 = np.dtype("<f4")


class ProtocolError(ConnectionError):
    """The peer sent a frame that breaks the protocol (wrong size, unknown status byte, ...)."""


class RemoteError(RuntimeError):
    """The robot server reported an error (its robot's read() or send() raised, or it refused the request)."""


def _has_robot_methods(obj: Any) -> bool:
    return callable(getattr(obj, "read", None)) and callable(getattr(obj, "send", None))


def _error_frame(message: str) -> bytes:
    raw = message.encode("utf-8", "replace")[:MAX_MESSAGE]
    return ST_ERROR + _U32.pack(len(raw)) + raw


class _Stopped(Exception):
    """The server is shutting down (internal)."""


class _Disconnected(Exception):
    """The client closed the connection between requests (internal)."""


class RobotServer:
    """Serves one robot over TCP in a background thread (see the module docstring).

    Args:
        robot: any object with ``read() -> array [S]`` and ``send(action [A] float32)``;
            optional ``stamp() -> float`` and ``done``. Only the server thread calls it.
        host, port: where to listen; port 0 picks a free port (see `port`).
        action_dim: A; a send with another size is refused with an ``'E'`` reply.
            Default: the robot's ``action_dim`` attribute when it has an int one.
        frame_timeout: seconds a client may stall in the middle of a request before it
            is disconnected (between requests it may be idle for as long as it likes).
        poll: seconds between checks for `close()` while waiting for a client or data.

    Attributes:
        host, port: the address actually bound.
        errors: text of every error the server answered or hit, oldest first.
        clients: connections served so far.
    """

    def __init__(
        self,
        robot: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        action_dim: int | None = None,
        frame_timeout: float = 5.0,
        poll: float = 0.05,
    ) -> None:
        if not _has_robot_methods(robot):
            raise TypeError(f"robot: expected an object with read() and send(action), got {type(robot).__name__}")
        if action_dim is None:
            a = getattr(robot, "action_dim", None)
            action_dim = a if isinstance(a, (int, np.integer)) and not isinstance(a, bool) else None
        if action_dim is not None and not (0 < int(action_dim) <= MAX_VALUES):
            raise ValueError(f"action_dim: expected 1..{MAX_VALUES}, got {action_dim}")
        self.robot = robot
        self.action_dim = None if action_dim is None else int(action_dim)
        self.frame_timeout = float(frame_timeout)
        self.poll = float(poll)
        self.errors: list[str] = []
        self.clients = 0
        self._stop = threading.Event()
        self._listener = socket.create_server((host, port), backlog=1)
        self._listener.settimeout(self.poll)
        self.host, self.port = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name=f"robot-server:{self.port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- lifecycle ------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> None:
        """Stops serving: drops the current client, closes the listening socket, joins the thread."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(
                    f"RobotServer.close: the server thread did not stop within {timeout} s "
                    "(is the robot's read() or send() blocking?)"
                )

    shutdown = close

    def wait(self) -> None:
        """Blocks until the server stops (`close()` from another thread, or Ctrl-C here)."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.2)
        except KeyboardInterrupt:
            self.close()

    def __enter__(self) -> RobotServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- serving --------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError as e:  # the listener was closed under us
                    if not self._stop.is_set():
                        self.errors.append(f"accept failed: {e}")
                    return
                self.clients += 1
                with conn:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conn.settimeout(self.poll)
                    try:
                        self._handle(conn)
                    except (_Stopped, _Disconnected):
                        pass
                    except (OSError, ProtocolError) as e:  # a broken client: drop it, wait for the next
                        self.errors.append(f"client dropped: {e}")
        finally:
            self._listener.close()

    def _recv(self, conn: socket.socket, n: int, what: str, between_requests: bool = False) -> bytes:
        buf = bytearray()
        deadline = None if between_requests else time.monotonic() + self.frame_timeout
        while len(buf) < n:
            if self._stop.is_set():
                raise _Stopped
            try:
                chunk = conn.recv(n - len(buf))
            except TimeoutError:
                if deadline is None and buf:
                    deadline = time.monotonic() + self.frame_timeout
                if deadline is not None and time.monotonic() > deadline:
                    raise ProtocolError(
                        f"timed out after {self.frame_timeout} s waiting for {what} ({len(buf)} of {n} bytes)"
                    ) from None
                continue
            if not chunk:
                if between_requests and not buf:
                    raise _Disconnected
                raise ProtocolError(f"client closed the connection after {len(buf)} of {n} bytes of {what}")
            buf += chunk
        return bytes(buf)

    def _refuse(self, conn: socket.socket, message: str) -> None:
        self.errors.append(message)
        conn.sendall(_error_frame(message))

    def _handle(self, conn: socket.socket) -> None:
        while True:
            op = self._recv(conn, 1, "a request byte", between_requests=True)
            if op == OP_READ:
                conn.sendall(self._do_read())
            elif op == OP_SEND:
                (n,) = _U32.unpack(self._recv(conn, 4, "the action size A (u32)"))
                if n > MAX_VALUES:
                    self._refuse(conn, f"send: action size A={n} exceeds the limit of {MAX_VALUES}; closing")
                    return
                payload = self._recv(conn, 4 * n, f"the action (A={n} float32)")
                conn.sendall(self._do_send(n, payload))
            elif op == OP_QUIT:
                conn.sendall(ST_OK)
                return
            else:
                self._refuse(conn, f"unknown request byte {op!r}: expected b'R' (read), b'S' (send) or b'Q' (quit)")
                return

    def _flags(self) -> int:
        return FLAG_DONE if bool(getattr(self.robot, "done", False)) else 0

    def _do_read(self) -> bytes:
        try:
            raw = self.robot.read()
            t = time.monotonic()
            stamp_fn = getattr(self.robot, "stamp", None)
            stamp = float(stamp_fn()) if callable(stamp_fn) else t
            obs = np.asarray(raw)
            if obs.dtype.kind not in "fiu":
                raise TypeError(f"robot.read() returned a non-numeric observation (dtype {obs.dtype})")
            obs = np.ascontiguousarray(obs, dtype=_F32).reshape(-1)
            if obs.size > MAX_VALUES:
                raise ValueError(f"robot.read() returned {obs.size} values, more than the limit of {MAX_VALUES}")
            flags = self._flags()
        except Exception as e:  # the robot's error goes to the client, the server keeps going
            msg = f"read: {type(e).__name__}: {e}"
            self.errors.append(msg)
            return _error_frame(msg)
        return ST_OK + _U32.pack(obs.size) + obs.tobytes() + _STAMP_FLAGS.pack(stamp, flags)

    def _do_send(self, n: int, payload: bytes) -> bytes:
        if self.action_dim is not None and n != self.action_dim:
            msg = f"send: expected an action of A={self.action_dim} float32 values, got {n}"
            self.errors.append(msg)
            return _error_frame(msg)
        action = np.frombuffer(payload, dtype=_F32).astype(np.float32)  # a fresh, writable, native copy
        try:
            self.robot.send(action)
            flags = self._flags()
        except Exception as e:
            msg = f"send: {type(e).__name__}: {e}"
            self.errors.append(msg)
            return _error_frame(msg)
        return ST_OK + bytes([flags])


def serve_robot(robot: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> tuple[RobotServer, int]:
    """Serves `robot` on host:port in a background thread; returns (server, the bound port).

    Keyword arguments go to `RobotServer`. Stop it with ``server.close()`` (or use it as a
    context manager).
    """
    server = RobotServer(robot, host, port, **kwargs)
    return server, server.port


class SocketRobot:
    """The client side: a `planner.control.Robot` whose robot is served by `serve_robot`.

    Args:
        host, port: the server.
        timeout: seconds to wait for each reply (and for the connection); a slower
            reply raises `TimeoutError` naming what was expected. The connection is
            then unusable (the reply may still arrive): reconnect.
        obs_dim: S; a read of another size raises `ProtocolError`. Default: learned
            from the first read, and every later read must match it.
        action_dim: A; `send` checks the action's size against it.

    Attributes:
        done: the server's robot reported ``done`` in the last reply.

    Use from one thread at a time (the loop's control thread). Errors: `TimeoutError`
    (no reply in time), `ConnectionError` (the connection closed, possibly mid-frame),
    `ProtocolError` (a malformed or wrong-size frame), `RemoteError` (the server's robot
    raised; the connection stays usable), `ValueError`/`TypeError` (a bad action here).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 1.0,
        obs_dim: int | None = None,
        action_dim: int | None = None,
    ) -> None:
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout: expected a finite number of seconds > 0, got {timeout}")
        for name, v in (("obs_dim", obs_dim), ("action_dim", action_dim)):
            if v is not None and not (0 < int(v) <= MAX_VALUES):
                raise ValueError(f"{name}: expected 1..{MAX_VALUES} or None, got {v}")
        self.host, self.port, self.timeout = host, int(port), float(timeout)
        self._obs_dim = None if obs_dim is None else int(obs_dim)
        self._obs_dim_given = obs_dim is not None
        self.action_dim = None if action_dim is None else int(action_dim)
        self.done = False
        self._stamp = math.nan
        self._broken: str | None = None
        try:
            self._sock: socket.socket | None = socket.create_connection((host, self.port), timeout=self.timeout)
        except OSError as e:
            raise ConnectionError(f"SocketRobot: cannot connect to the robot server at {host}:{self.port}: {e}") from e
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def obs_dim(self) -> int | None:
        """S: given, or learned from the first read (None before it)."""
        return self._obs_dim

    @property
    def observation_dim(self) -> int | None:
        return self._obs_dim

    # -- the Robot protocol ---------------------------------------------------------------
    def read(self) -> np.ndarray:
        """The latest observation, float32 [S]."""
        self._request(OP_READ, "read")
        self._status("read", "the observation")
        (n,) = _U32.unpack(self._recv(4, "read", "the observation size S (u32)"))
        want = self._obs_dim
        if n > MAX_VALUES:
            self._break(f"read: observation size S={n} exceeds the limit of {MAX_VALUES}")
        data = self._recv(4 * n, "read", f"the observation (S={n} float32)")
        stamp, flags = _STAMP_FLAGS.unpack(self._recv(_STAMP_FLAGS.size, "read", "the timestamp (f64) and flags (u8)"))
        if want is not None and n != want:  # the frame was consumed whole: the connection is still in step
            expected = f"S={want} float32" + ("" if self._obs_dim_given else " (the size of the first read)")
            raise ProtocolError(f"SocketRobot.read: expected an observation of {expected}, the server sent S={n}")
        self._obs_dim = n
        self._stamp = stamp
        self.done = bool(flags & FLAG_DONE)
        return np.frombuffer(data, dtype=_F32).astype(np.float32)

    def send(self, action: Any) -> None:
        """Sends `action` [A] (any numeric array-like; sent as float32)."""
        a = np.asarray(action)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"SocketRobot.send: expected a numeric action [A], got dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=_F32).reshape(-1)
        if self.action_dim is not None and a.size != self.action_dim:
            raise ValueError(
                f"SocketRobot.send: expected an action of A={self.action_dim} values, got shape {np.shape(action)}"
            )
        if not 0 < a.size <= MAX_VALUES:
            raise ValueError(f"SocketRobot.send: expected 1..{MAX_VALUES} action values, got {a.size}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"SocketRobot.send: the action must be finite, got {a}")
        self._request(OP_SEND + _U32.pack(a.size) + a.tobytes(), "send")
        self._status("send", "the send acknowledgement")
        (flags,) = self._recv(1, "send", "the flags byte (u8) of the acknowledgement")
        self.done = bool(flags & FLAG_DONE)

    def stamp(self) -> float:
        """Timestamp of the last observation read (seconds, the server robot's clock; NaN before a read)."""
        return self._stamp

    def close(self) -> None:
        """Says goodbye (``'Q'``) when the connection is healthy and closes it. Idempotent."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if self._broken is None:
                sock.settimeout(min(self.timeout, 0.5))
                sock.sendall(OP_QUIT)
                sock.recv(1)
        except OSError:
            pass
        finally:
            sock.close()

    def __enter__(self) -> SocketRobot:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else ("broken" if self._broken else "connected")
        return f"SocketRobot({self.host}:{self.port}, S={self._obs_dim}, A={self.action_dim}, {state})"

    # -- framing --------------------------------------------------------------------------
    def _check_usable(self, op: str) -> socket.socket:
        if self._sock is None:
            raise ConnectionError(f"SocketRobot.{op}: the connection is closed")
        if self._broken is not None:
            raise ConnectionError(
                f"SocketRobot.{op}: the connection is out of step after an earlier error ({self._broken}); reconnect"
            )
        return self._sock

    def _break(self, message: str, exc: type[Exception] = ProtocolError) -> None:
        self._broken = message
        raise exc(f"SocketRobot.{message}") from None

    def _request(self, frame: bytes, op: str) -> None:
        sock = self._check_usable(op)
        try:
            sock.sendall(frame)
        except TimeoutError:
            self._break(f"{op}: timed out after {self.timeout} s sending the request", TimeoutError)
        except OSError as e:
            self._break(f"{op}: cannot send the request to {self.host}:{self.port}: {e}", ConnectionError)

    def _recv(self, n: int, op: str, what: str) -> bytes:
        sock = self._check_usable(op)
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except TimeoutError:
                self._break(
                    f"{op}: timed out after {self.timeout} s waiting for {what} ({len(buf)} of {n} bytes received)",
                    TimeoutError,
                )
            except OSError as e:
                self._break(f"{op}: connection error while waiting for {what}: {e}", ConnectionError)
            if not chunk:
                self._break(
                    f"{op}: the robot server closed the connection after {len(buf)} of {n} bytes of {what}",
                    ConnectionError,
                )
            buf += chunk
        return bytes(buf)

    def _status(self, op: str, what: str) -> None:
        st = self._recv(1, op, f"the reply status byte (b'K' or b'E') before {what}")
        if st == ST_OK:
            return
        if st == ST_ERROR:
            (n,) = _U32.unpack(self._recv(4, op, "the error message length (u32)"))
            if n > MAX_MESSAGE:
                self._break(f"{op}: error message of {n} bytes exceeds the limit of {MAX_MESSAGE}")
            text = self._recv(n, op, f"the error message ({n} bytes)").decode("utf-8", "replace")
            raise RemoteError(f"SocketRobot.{op}: the robot server reported: {text}")
        self._break(f"{op}: expected the reply status byte b'K' or b'E', got {st!r}")
