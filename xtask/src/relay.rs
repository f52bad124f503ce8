//! `xtask relay --delay 10ms HOST:PORT`: a TCP relay that delays each
//! direction, to simulate a network round trip where there is no `netem`.
//!
//! It is meant as an ssh `ProxyCommand` (`ProxyCommand xtask relay --delay
//! 10ms %h:%p`): standard input goes to a TCP connection to HOST:PORT, and
//! what comes back goes to standard output. Every chunk is released `delay`
//! after it was read, by a writer thread of its own per direction, so chunks
//! in flight overlap as on a real link: the delay adds latency, not a limit
//! on throughput.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct RelayArgs {
    /// How long each chunk is held in each direction (`10ms`).
    #[arg(long, value_parser = humantime::parse_duration)]
    delay: Duration,
    /// Where to connect (ssh's `%h:%p`).
    address: String,
}

pub fn exec(args: RelayArgs) -> Result<()> {
    let stream = TcpStream::connect(&args.address)
        .with_context(|| format!("relay: cannot connect to {}", args.address))?;
    proxy(io::stdin(), io::stdout(), stream, args.delay).context("relay")
}

/// Relays `input` to `stream` and `stream` to `output`, each chunk `delay`
/// late. Returns when everything the stream sent has reached `output` (a
/// `ProxyCommand` is done when the server has closed the connection); the
/// end of `input` half-closes the stream, as the end of ssh's pipe would.
pub fn proxy<R, W>(input: R, output: W, stream: TcpStream, delay: Duration) -> io::Result<()>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    // Each chunk is written as soon as its time comes: Nagle's algorithm
    // would hold small ones back for an acknowledgement.
    stream.set_nodelay(true)?;
    let upstream = stream.try_clone()?;
    thread::spawn(move || {
        if let Ok(stream) = delayed_copy(input, upstream, delay).join_writer() {
            let _ = stream.shutdown(Shutdown::Write);
        }
    });
    delayed_copy(stream, output, delay).join_writer().map(drop)
}

/// One direction of the relay: a reader thread that stamps each chunk with
/// the time it arrived, and a writer thread that releases it `delay` later.
struct DelayedCopy<W> {
    writer: thread::JoinHandle<io::Result<W>>,
}

impl<W> DelayedCopy<W> {
    /// Waits until the reader's end has been written; the writer, to be
    /// closed by the caller.
    fn join_writer(self) -> io::Result<W> {
        self.writer.join().expect("the relay's writer panicked")
    }
}

fn delayed_copy<R, W>(mut reader: R, mut writer: W, delay: Duration) -> DelayedCopy<W>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (chunks, arrived) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The end, or an error (the other side is gone): dropping
                // the sender tells the writer, once it has written the rest.
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if chunks.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let writer = thread::spawn(move || {
        for (arrived_at, chunk) in arrived {
            let due = arrived_at + delay;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            writer.write_all(&chunk)?;
            // Standard output is line-buffered: a chunk's tail must not wait
            // for the next newline.
            writer.flush()?;
        }
        Ok(writer)
    });
    DelayedCopy { writer }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::os::unix::net::UnixStream;

    use super::*;

    const DELAY: Duration = Duration::from_millis(20);

    /// A server that sends back whatever it receives; its address.
    fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                stream.set_nodelay(true).unwrap();
                thread::spawn(move || {
                    let mut back = stream.try_clone().unwrap();
                    let _ = io::copy(&mut &stream, &mut back);
                    let _ = back.shutdown(Shutdown::Write);
                });
            }
        });
        address
    }

    /// A relay to `address` whose standard input and output are the other
    /// end of the returned socket, as ssh's pipes are a `ProxyCommand`'s.
    fn relay_to(address: &str) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let stream = TcpStream::connect(address).unwrap();
        thread::spawn(move || {
            let input = theirs.try_clone().unwrap();
            let _ = proxy(input, theirs, stream, DELAY);
        });
        ours
    }

    /// A listener whose connections are relayed to `address`: a second
    /// relay in front of the first. Its address.
    fn relay_port_to(address: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let front = listener.local_addr().unwrap().to_string();
        let address = address.to_string();
        thread::spawn(move || {
            for client in listener.incoming() {
                let client = client.unwrap();
                let stream = TcpStream::connect(&address).unwrap();
                thread::spawn(move || {
                    let input = client.try_clone().unwrap();
                    let _ = proxy(input, client, stream, DELAY);
                });
            }
        });
        front
    }

    fn round_trip(socket: &mut UnixStream, message: &[u8]) -> Duration {
        let started = Instant::now();
        socket.write_all(message).unwrap();
        let mut back = vec![0; message.len()];
        socket.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
        started.elapsed()
    }

    #[test]
    fn a_round_trip_waits_the_delay_in_each_direction() {
        let mut one = relay_to(&echo_server());
        round_trip(&mut one, b"warm up");
        let elapsed = round_trip(&mut one, b"ping");
        assert!(elapsed >= 2 * DELAY, "one relay: {elapsed:?}");

        let mut two = relay_to(&relay_port_to(&echo_server()));
        let elapsed = round_trip(&mut two, b"ping");
        assert!(elapsed >= 4 * DELAY, "two relays: {elapsed:?}");
    }

    #[test]
    fn bytes_arrive_intact_and_in_order_through_two_relays() {
        let mut socket = relay_to(&relay_port_to(&echo_server()));
        // Not a repeating pattern: a reordered or lost chunk must show.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let data: Vec<u8> = (0..1 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut writer = socket.try_clone().unwrap();
        let sent = data.clone();
        let sender = thread::spawn(move || {
            for piece in sent.chunks(10_000) {
                writer.write_all(piece).unwrap();
            }
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        socket.read_to_end(&mut back).unwrap();
        sender.join().unwrap();
        assert!(back == data, "{} bytes back of {}", back.len(), data.len());
    }

    #[test]
    fn chunks_in_flight_overlap_instead_of_queueing() {
        let socket = relay_to(&echo_server());
        let messages = 100;
        let mut writer = socket.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let mut sent = Vec::new();
            for i in 0..messages {
                sent.push(Instant::now());
                writer.write_all(&[i as u8]).unwrap();
                thread::sleep(Duration::from_millis(1));
            }
            sent
        });
        let mut reader = socket;
        let mut received = Vec::new();
        for i in 0..messages {
            let mut byte = [0];
            reader.read_exact(&mut byte).unwrap();
            assert_eq!(byte[0], i as u8);
            received.push(Instant::now());
        }
        let sent = sender.join().unwrap();
        for (i, (sent, received)) in sent.iter().zip(&received).enumerate() {
            assert!(
                *received - *sent >= 2 * DELAY,
                "message {i} came back early"
            );
        }
        // One after the other, 100 chunks would take 100 round trips (4 s);
        // overlapping, about 100 ms of sending and one round trip.
        let total = received[messages - 1] - sent[0];
        assert!(
            total < messages as u32 * DELAY / 2,
            "{total:?} for {messages} messages"
        );
    }
}
