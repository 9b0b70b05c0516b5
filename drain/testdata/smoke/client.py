# Holds one TCP connection to VIP:80; asks "who" each time a line arrives on stdin (fifo).
import socket, sys
c = socket.create_connection(("10.96.77.77", 80), timeout=5)
for line in sys.stdin:
    if line.strip() == "close":
        c.close(); print("closed", flush=True); break
    try:
        c.sendall(b"who\n"); print("held connection answered by", c.recv(100).decode().strip(), flush=True)
    except Exception as e:
        print("held connection FAILED:", e, flush=True)
