use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    #[rpc]
    Get(RpcReplyPort<u64>),
}

fn main() {}
