"""Live streams with PyAV: open a live input with bounded waits, and write a live multi-rung HLS output.

* :func:`open_live` opens MPEG-TS over UDP or TCP (``udp://HOST:PORT``, ``tcp://HOST:PORT?listen=1``) or a
  growing HLS playlist (a local ``.m3u8``). Opening waits at most ``open_timeout_s`` for a stream to show
  up, and every later read at most ``read_timeout_s``: a sender that never starts is a one-line
  InputError, one that vanishes ends the stream (:class:`LiveEnded`), never a hang. SRT and RTMP are not
  in the FFmpeg build PyAV bundles.
* :class:`LiveHlsWriter` encodes every rung (H.264, ``tune=zerolatency``, VBV-capped, a keyframe at each
  segment boundary) and one AAC rendition into FFmpeg's ``hls`` muxer: fMP4 segments, a rolling window of
  ``window`` segments per playlist (older ones deleted), a master playlist a player can join while the
  stream runs, and ``#EXT-X-ENDLIST`` once it is closed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.video.frame import PictureType

from genmedia.errors import InputError
from genmedia.media.cmaf import AUDIO_RATE, PIX_FMT, EncodeSettings

LIVE_SCHEMES = ("udp://", "tcp://")
MASTER_NAME = "master.m3u8"


class LiveEnded(Exception):
    """The live input stopped: it ended, or sent nothing for ``read_timeout_s``."""


def open_live(url: str, open_timeout_s: float, read_timeout_s: float) -> av.container.InputContainer:
    """Open a live input; InputError naming the URL when it is unsupported or sends no stream in time."""
    if url.startswith(LIVE_SCHEMES):
        fmt, options = "mpegts", {"fflags": "nobuffer"}  # no probe backlog: pictures as they arrive
    elif url.endswith(".m3u8") and "://" not in url:
        fmt, options = "hls", {"protocol_whitelist": "file", "live_start_index": "0"}
    else:
        raise InputError(
            url,
            "live input must be udp://HOST:PORT, tcp://HOST:PORT?listen=1 (MPEG-TS) or a local .m3u8 "
            "playlist; SRT and RTMP are not in the bundled FFmpeg",
        )
    try:
        container = av.open(url, format=fmt, options=options, timeout=(open_timeout_s, read_timeout_s))
    except av.error.ExitError:
        raise InputError(url, f"no stream arrived within {open_timeout_s:g} s") from None
    except (av.error.FFmpegError, OSError) as e:
        raise InputError(url, f"cannot open the live input ({e})") from None
    if not container.streams.video:
        container.close()
        raise InputError(url, "the live input has no video stream")
    return container


def live_packets(container: av.container.InputContainer, with_audio: bool) -> Iterator[av.Packet]:
    """The input's video (and first audio) packets until it ends; raises LiveEnded with the reason."""
    streams = [container.streams.video[0]] + ([container.streams.audio[0]] if with_audio else [])
    try:
        for packet in container.demux(*streams):
            if packet.size:
                yield packet
    except av.error.ExitError:
        raise LiveEnded("no data for the read timeout: the sender stopped") from None
    except (av.error.EOFError, av.error.InvalidDataError, av.error.OSError) as e:
        raise LiveEnded(f"the input ended ({type(e).__name__})") from None
    raise LiveEnded("the input ended")


class LiveHlsWriter:
    """Live HLS output in ``folder``: ``master.m3u8`` and ``v{i}/index.m3u8`` per rung (+ the audio rendition)."""

    def __init__(
        self,
        folder: Path,
        rungs: Sequence[tuple[tuple[int, int], int]],
        fps: Fraction,
        *,
        segment_seconds: float,
        window: int,
        settings: EncodeSettings,
        audio: bool,
        audio_bitrate: int,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        gop = max(1, round(segment_seconds * fps))
        groups = [f"v:{i},agroup:aud" if audio else f"v:{i}" for i in range(len(rungs))]
        if audio:
            groups.append("a:0,agroup:aud")
        options = {
            "hls_time": f"{float(gop / fps):g}",
            "hls_list_size": str(window),
            "hls_flags": "delete_segments+independent_segments+temp_file",
            "hls_segment_type": "fmp4",
            "hls_fmp4_init_filename": "init.mp4",
            "hls_segment_filename": str(folder / "v%v" / "seg_%05d.m4s"),
            "master_pl_name": MASTER_NAME,
            "var_stream_map": " ".join(groups),
        }
        self._fps = fps
        self._container = av.open(str(folder / "v%v" / "index.m3u8"), "w", format="hls", options=options)
        self._video = []
        for (w, h), bitrate in rungs:
            stream = self._container.add_stream(
                settings.encoder(),
                rate=fps,
                options={
                    **settings.rate_options(bitrate),
                    "tune": "zerolatency",
                    "b": str(bitrate),
                    "g": str(gop),
                    "keyint_min": str(gop),
                    "sc_threshold": "0",
                },
            )
            stream.width, stream.height, stream.pix_fmt = w, h, PIX_FMT
            stream.bit_rate = bitrate
            stream.codec_context.time_base = 1 / fps
            self._video.append(stream)
        self._audio = None
        if audio:
            self._audio = self._container.add_stream("aac", rate=AUDIO_RATE)
            self._audio.layout = "stereo"
            self._audio.bit_rate = audio_bitrate
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)

    def write(self, pictures: Sequence[av.VideoFrame], slot: int) -> None:
        """One picture per rung as output frame ``slot``."""
        for stream, picture in zip(self._video, pictures, strict=True):
            picture.pts, picture.time_base = slot, 1 / self._fps
            picture.pict_type = PictureType.NONE
            self._container.mux(stream.encode(picture))

    def write_audio(self, frame: av.AudioFrame | None) -> None:
        """A decoded audio frame (None flushes)."""
        if self._audio is None:
            return
        if frame is not None:
            frame.pts = None
        for resampled in self._resampler.resample(frame):
            self._container.mux(self._audio.encode(resampled))

    def close(self) -> None:
        """Flush every encoder and end the playlists (``#EXT-X-ENDLIST``): the output stays playable."""
        for stream in self._video:
            self._container.mux(stream.encode(None))
        if self._audio is not None:
            self.write_audio(None)
            self._container.mux(self._audio.encode(None))
        self._container.close()


__all__ = ["LIVE_SCHEMES", "MASTER_NAME", "LiveEnded", "LiveHlsWriter", "live_packets", "open_live"]
