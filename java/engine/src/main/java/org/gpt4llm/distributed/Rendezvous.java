package org.gpt4llm.distributed;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * How the nodes of a job meet before NCCL can: node 0 listens on {@code HOST:PORT}, every other node
 * connects and says its node rank, and node 0 answers each with the job's id (the NCCL unique id it made).
 * A node that never arrives, or a node 0 that never listens, ends the wait after the timeout with one
 * sentence naming the address and the missing nodes.
 */
public final class Rendezvous {
    private static final int MAGIC = 0x67346c6d; // "g4lm": a stray connection is told apart from a node

    private Rendezvous() {}

    /** {@code HOST:PORT} parsed, or one sentence naming {@code flag}. */
    public static InetSocketAddress address(String flag, String hostPort) {
        int colon = hostPort == null ? -1 : hostPort.lastIndexOf(':');
        if (colon <= 0 || colon == hostPort.length() - 1) {
            throw new IllegalArgumentException(flag + " " + hostPort + " is not HOST:PORT");
        }
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) throw new IllegalArgumentException(flag + " " + hostPort + " has no port 1..65535");
        return InetSocketAddress.createUnresolved(hostPort.substring(0, colon), port);
    }

    /**
     * Node 0's side: listens on {@code address}'s port, takes one connection from each of nodes
     * 1..nodes-1 and sends each {@code id}. Returns once all have it.
     */
    public static void serve(InetSocketAddress address, int nodes, byte[] id, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        TreeSet<Integer> missing = new TreeSet<>();
        for (int n = 1; n < nodes; n++) missing.add(n);
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(address.getPort()));
            List<Socket> joined = new ArrayList<>();
            try {
                while (!missing.isEmpty()) {
                    long left = (deadline - System.nanoTime()) / 1_000_000;
                    if (left <= 0) throw neverArrived(address, missing, timeout);
                    server.setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
                    Socket s;
                    try {
                        s = server.accept();
                    } catch (SocketTimeoutException e) {
                        throw neverArrived(address, missing, timeout);
                    }
                    s.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, left)));
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    int node;
                    try {
                        if (in.readInt() != MAGIC) {
                            s.close();
                            continue;
                        }
                        node = in.readInt();
                    } catch (IOException e) {
                        s.close();
                        continue;
                    }
                    if (!missing.remove(node)) {
                        s.close();
                        throw new IOException("rendezvous at " + show(address) + ": node rank " + node
                                + " arrived twice or is not one of 1.." + (nodes - 1));
                    }
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeInt(MAGIC);
                    out.writeInt(id.length);
                    out.write(id);
                    out.flush();
                    joined.add(s);
                }
            } finally {
                for (Socket s : joined) s.close();
            }
        }
    }

    /** Node {@code node}'s side: connects to node 0 (retrying until it listens) and returns the job's id. */
    public static byte[] join(InetSocketAddress address, int node, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new IOException(String.format(Locale.ROOT, "rendezvous at %s: node 0 did not answer node %d within %.0f s",
                        show(address), node, timeout.toNanos() / 1e9));
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(address.getHostString(), address.getPort()), (int) Math.min(left, 5000));
                s.setSoTimeout((int) Math.max(1, left));
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(MAGIC);
                out.writeInt(node);
                out.flush();
                DataInputStream in = new DataInputStream(s.getInputStream());
                if (in.readInt() != MAGIC) throw new IOException("rendezvous at " + show(address) + ": what answers there is not node 0 of a job");
                byte[] id = new byte[in.readInt()];
                in.readFully(id);
                return id;
            } catch (ConnectException | SocketTimeoutException e) {
                // node 0 is not listening yet: try again until the deadline
                try {
                    Thread.sleep(Math.min(200, Math.max(1, left)));
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("rendezvous at " + show(address) + " was interrupted", ie);
                }
            } catch (java.io.EOFException e) {
                throw new IOException("rendezvous at " + show(address) + ": node 0 closed the connection before sending the job's id");
            }
        }
    }

    private static IOException neverArrived(InetSocketAddress address, TreeSet<Integer> missing, Duration timeout) {
        return new IOException(String.format(Locale.ROOT, "rendezvous at %s: node%s %s never arrived within %.0f s",
                show(address), missing.size() == 1 ? "" : "s",
                String.join(", ", missing.stream().map(String::valueOf).toList()), timeout.toNanos() / 1e9));
    }

    private static String show(InetSocketAddress a) {
        return a.getHostString() + ":" + a.getPort();
    }
}
