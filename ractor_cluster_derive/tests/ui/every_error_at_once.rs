use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

// All rules are checked before reporting, so one build lists every problem.
#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    Reset,
    Get(RpcReplyPort<u64>),
    #[rpc(now)]
    Peek(RpcReplyPort<u64>),
}

fn main() {}
