#!/usr/bin/python3
"""rtsp_server.py -- a real RTSP server on 127.0.0.1 for tests/video/check_live.sh
and the soak (docs/video.md): Debian's gst-rtsp-server (python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good/-bad) serving an
H.264 file (Matroska) as rtsp://127.0.0.1:PORT/cam, paced at its frame rate,
played in a loop when --loop is given.

usage: rtsp_server.py FILE.mkv PORTFILE [--port N] [--loop]
Writes the port it listens on to PORTFILE once it serves (0 = a free port)."""
import os
import socket
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path, portfile = args[0], args[1]
    port = 0
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
        args = [a for a in args if a != str(port)]
    loop_file = "--loop" in sys.argv
    Gst.init(None)
    if not port:
        port = free_port()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    src = "filesrc location=%s ! matroskademux ! h264parse" % path
    if loop_file:
        # multifilesrc loops the file; the demuxer restarts with each round
        src = "multifilesrc location=%s loop=true ! matroskademux ! h264parse" % path
    factory.set_launch("( %s ! rtph264pay name=pay0 pt=96 config-interval=1 )" % src)
    factory.set_shared(False)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit("rtsp_server.py: cannot listen on 127.0.0.1:%d" % port)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, portfile)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
