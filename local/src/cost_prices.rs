//! The prices `orderflow-local cost-report` applies, and the assumptions that turn what it
//! measured into them: us-east-1, on-demand, list prices without free tiers or savings
//! plans, checked on 2026-12-02 against the AWS pricing pages named on each price.
//!
//! Every price is in millionths of a US dollar (µ$) per million units, so that units per
//! order times the price is µ$ per million orders, in integers.

/// One price of the table.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Price {
    pub item: &'static str,
    pub unit: &'static str,
    /// µ$ per million units (= $ per unit).
    pub micros_per_million: u64,
    pub source: &'static str,
}

/// The date the prices were last compared with the pricing pages.
pub const CHECKED: &str = "2026-12-02";

/// On-demand writes: $0.625 per million write request units, since DynamoDB halved its
/// on-demand prices on 2024-11-01 (it was $1.25).
pub const DYNAMODB_WRU: Price = Price {
    item: "DynamoDB write request unit",
    unit: "WRU",
    micros_per_million: 625_000,
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};

/// On-demand reads: $0.125 per million read request units (was $0.25 before 2024-11-01).
pub const DYNAMODB_RRU: Price = Price {
    item: "DynamoDB read request unit",
    unit: "RRU",
    micros_per_million: 125_000,
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};

/// Standard table class storage, $0.25 per GB-month past the free 25 GB.
pub const DYNAMODB_STORAGE: Price = Price {
    item: "DynamoDB storage",
    unit: "GB-month",
    micros_per_million: 250_000_000_000,
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
};

/// Standard topics: $0.50 per million publishes, each 64 KB chunk of a payload one
/// publish. Deliveries to SQS queues are free.
pub const SNS_PUBLISH: Price = Price {
    item: "SNS publish (64 KB chunk)",
    unit: "request",
    micros_per_million: 500_000,
    source: "https://aws.amazon.com/sns/pricing/",
};

/// Standard queues: $0.40 per million requests (first 100 billion a month), each 64 KB
/// chunk of a payload one request.
pub const SQS_REQUEST: Price = Price {
    item: "SQS request (64 KB chunk)",
    unit: "request",
    micros_per_million: 400_000,
    source: "https://aws.amazon.com/sqs/pricing/",
};

pub const LAMBDA_REQUEST: Price = Price {
    item: "Lambda invocation",
    unit: "request",
    micros_per_million: 200_000,
    source: "https://aws.amazon.com/lambda/pricing/",
};

/// Arm (the template's `Architectures: [arm64]`): $0.0000133334 per GB-second for the
/// first 7.5 billion GB-seconds a month.
pub const LAMBDA_GB_SECOND: Price = Price {
    item: "Lambda duration, arm64",
    unit: "GB-s",
    micros_per_million: 13_333_400,
    source: "https://aws.amazon.com/lambda/pricing/",
};

/// HTTP APIs: $1.00 per million requests (first 300 million a month), each 512 KB one.
pub const API_GATEWAY_HTTP: Price = Price {
    item: "API Gateway HTTP API request",
    unit: "request",
    micros_per_million: 1_000_000,
    source: "https://aws.amazon.com/api-gateway/pricing/",
};

/// Standard workflows: $0.025 per 1,000 state transitions.
pub const STEP_FUNCTIONS_TRANSITION: Price = Price {
    item: "Step Functions Standard state transition",
    unit: "transition",
    micros_per_million: 25_000_000,
    source: "https://aws.amazon.com/step-functions/pricing/",
};

pub const ALL: [Price; 9] = [
    DYNAMODB_WRU,
    DYNAMODB_RRU,
    DYNAMODB_STORAGE,
    SNS_PUBLISH,
    SQS_REQUEST,
    LAMBDA_REQUEST,
    LAMBDA_GB_SECOND,
    API_GATEWAY_HTTP,
    STEP_FUNCTIONS_TRANSITION,
];

/// `MemorySize` of every function in `template.yaml`.
pub const LAMBDA_MEMORY_MB: u64 = 128;
/// Assumed billed duration of an invocation before its AWS calls: start of the handler,
/// parsing, deciding, serialising, at 128 MB (about a thirteenth of a vCPU).
pub const LAMBDA_BASE_MS: u64 = 20;
/// Assumed round trip of one in-region DynamoDB, SNS or SQS call made by a function.
pub const LAMBDA_MS_PER_CALL: u64 = 10;

/// Bytes an SNS publish or SQS request carries per billed request.
pub const MESSAGE_CHUNK_BYTES: usize = 64 * 1024;

/// `units` at `price`: µ$ per million orders when `units` are per order.
pub fn micros(units: u64, price: &Price) -> u64 {
    units.saturating_mul(price.micros_per_million)
}

/// Half units (eventually consistent reads cost half an RRU) at `price`.
pub fn micros_for_halves(halves: u64, price: &Price) -> u64 {
    micros(halves, price).div_ceil(2)
}

/// Lambda duration of `mb_ms` (MB × ms) per order: µ$ per million orders.
pub fn lambda_duration_micros(mb_ms: u64) -> u64 {
    micros(mb_ms, &LAMBDA_GB_SECOND).div_ceil(1024 * 1000)
}

/// Storage of `bytes` per order kept for a month: µ$ per million orders per month.
pub fn storage_micros(bytes: u64) -> u64 {
    micros(bytes, &DYNAMODB_STORAGE).div_ceil(1 << 30)
}

/// µ$ as dollars with `places` decimals, rounded half up: `12_504_999` → `"12.50"`.
pub fn dollars(micros: u64, places: u32) -> String {
    let scale = 10u64.pow(6 - places.min(6));
    let rounded = (micros + scale / 2) / scale;
    let unit = 10u64.pow(places.min(6));
    if places == 0 {
        return rounded.to_string();
    }
    format!("{}.{:0width$}", rounded / unit, rounded % unit, width = places as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_per_order_times_the_price_is_the_cost_per_million_orders() {
        // 20 WRU an order: 20 million WRU for a million orders, $12.50.
        assert_eq!(dollars(micros(20, &DYNAMODB_WRU), 2), "12.50");
        // 9 eventually consistent half units: 4.5 RRU, $0.5625.
        assert_eq!(dollars(micros_for_halves(9, &DYNAMODB_RRU), 4), "0.5625");
        // 128 MB for 1000 ms is 0.125 GB-s: a million of them $1.666675.
        assert_eq!(dollars(lambda_duration_micros(128 * 1000), 4), "1.6667");
        // 10 KiB kept per order: 9.54 GiB for a million orders, $2.38 a month.
        assert_eq!(dollars(storage_micros(10 * 1024), 2), "2.38");
    }

    #[test]
    fn dollars_round_half_up() {
        assert_eq!(dollars(12_504_999, 2), "12.50");
        assert_eq!(dollars(12_505_000, 2), "12.51");
        assert_eq!(dollars(0, 2), "0.00");
        assert_eq!(dollars(1_500_000, 0), "2");
    }
}
