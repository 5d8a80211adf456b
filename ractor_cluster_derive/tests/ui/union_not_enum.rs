use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
