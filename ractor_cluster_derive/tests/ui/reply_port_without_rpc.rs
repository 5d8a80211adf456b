use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    Increment(u64),
    Get { reply: RpcReplyPort<u64> },
}

fn main() {}
