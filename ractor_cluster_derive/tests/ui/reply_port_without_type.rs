use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    Get(RpcReplyPort),
}

fn main() {}
