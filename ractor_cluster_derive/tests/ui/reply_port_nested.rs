use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum CounterMessage {
    #[rpc]
    Get(String, Option<RpcReplyPort<u64>>),
    Many(Vec<ractor::RpcReplyPort<u64>>),
}

fn main() {}
