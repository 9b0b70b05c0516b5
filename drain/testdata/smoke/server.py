import socket, sys, threading
ip = sys.argv[1]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, 8080)); s.listen(16)
def serve(c):
    while True:
        d = c.recv(100)
        if not d:
            c.close(); return
        c.sendall(ip.encode() + b"\n")
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
