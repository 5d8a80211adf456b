use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc(u64)]
    Get(RpcReplyPort<u64>),
    #[rpc = "timeout"]
    Peek(RpcReplyPort<u64>),
}

fn main() {}
