use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    Get(RpcReplyPort<u64>, String, RpcReplyPort<String>),
}

fn main() {}
