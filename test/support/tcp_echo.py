"""TCP echo server for connection-tracking tests. usage: tcp_echo.py PORT"""
import socketserver
import sys


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("", int(sys.argv[1])), Echo).serve_forever()
