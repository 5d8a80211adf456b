use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
#[rpc]
enum CounterMessage {
    #[rpc]
    Get(RpcReplyPort<u64>),
}

fn main() {}
