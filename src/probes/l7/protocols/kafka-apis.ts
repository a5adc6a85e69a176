// Kafka's API keys (the request header's api_key) with their names as the Kafka protocol
// spells them (what l7_rpc_api counts requests under), the highest version Apache Kafka
// 4.1 accepts and the first "flexible" version (KIP-482: compact strings and arrays and
// tagged fields; request header v2 and response header v1 from that version on; -1 = none).
// Source: the message schemas (common/message/*Request.json) in kafka-clients 4.1.1; keys
// 4-7 (inter-broker APIs removed in Kafka 4.0) from Kafka 3.9.
import { ErrorClass } from "../protocol.ts";

const APIS: readonly (readonly [name: string, maxVersion: number, firstFlexible: number])[] = [
  ["Produce", 13, 9], // 0
  ["Fetch", 18, 12], // 1
  ["ListOffsets", 10, 6], // 2
  ["Metadata", 13, 9], // 3
  ["LeaderAndIsr", 7, 4], // 4
  ["StopReplica", 4, 2], // 5
  ["UpdateMetadata", 8, 6], // 6
  ["ControlledShutdown", 3, 3], // 7
  ["OffsetCommit", 10, 8], // 8
  ["OffsetFetch", 10, 6], // 9
  ["FindCoordinator", 6, 3], // 10
  ["JoinGroup", 9, 6], // 11
  ["Heartbeat", 4, 4], // 12
  ["LeaveGroup", 5, 4], // 13
  ["SyncGroup", 5, 4], // 14
  ["DescribeGroups", 6, 5], // 15
  ["ListGroups", 5, 3], // 16
  ["SaslHandshake", 1, -1], // 17
  ["ApiVersions", 4, 3], // 18
  ["CreateTopics", 7, 5], // 19
  ["DeleteTopics", 6, 4], // 20
  ["DeleteRecords", 2, 2], // 21
  ["InitProducerId", 6, 2], // 22
  ["OffsetForLeaderEpoch", 4, 4], // 23
  ["AddPartitionsToTxn", 5, 3], // 24
  ["AddOffsetsToTxn", 4, 3], // 25
  ["EndTxn", 5, 3], // 26
  ["WriteTxnMarkers", 1, 1], // 27
  ["TxnOffsetCommit", 5, 3], // 28
  ["DescribeAcls", 3, 2], // 29
  ["CreateAcls", 3, 2], // 30
  ["DeleteAcls", 3, 2], // 31
  ["DescribeConfigs", 4, 4], // 32
  ["AlterConfigs", 2, 2], // 33
  ["AlterReplicaLogDirs", 2, 2], // 34
  ["DescribeLogDirs", 4, 2], // 35
  ["SaslAuthenticate", 2, 2], // 36
  ["CreatePartitions", 3, 2], // 37
  ["CreateDelegationToken", 3, 2], // 38
  ["RenewDelegationToken", 2, 2], // 39
  ["ExpireDelegationToken", 2, 2], // 40
  ["DescribeDelegationToken", 3, 2], // 41
  ["DeleteGroups", 2, 2], // 42
  ["ElectLeaders", 2, 2], // 43
  ["IncrementalAlterConfigs", 1, 1], // 44
  ["AlterPartitionReassignments", 1, 0], // 45
  ["ListPartitionReassignments", 0, 0], // 46
  ["OffsetDelete", 0, -1], // 47
  ["DescribeClientQuotas", 1, 1], // 48
  ["AlterClientQuotas", 1, 1], // 49
  ["DescribeUserScramCredentials", 0, 0], // 50
  ["AlterUserScramCredentials", 0, 0], // 51
  ["Vote", 2, 0], // 52
  ["BeginQuorumEpoch", 1, 1], // 53
  ["EndQuorumEpoch", 1, 1], // 54
  ["DescribeQuorum", 2, 0], // 55
  ["AlterPartition", 3, 0], // 56
  ["UpdateFeatures", 2, 0], // 57
  ["Envelope", 0, 0], // 58
  ["FetchSnapshot", 1, 0], // 59
  ["DescribeCluster", 2, 0], // 60
  ["DescribeProducers", 0, 0], // 61
  ["BrokerRegistration", 4, 0], // 62
  ["BrokerHeartbeat", 1, 0], // 63
  ["UnregisterBroker", 0, 0], // 64
  ["DescribeTransactions", 0, 0], // 65
  ["ListTransactions", 2, 0], // 66
  ["AllocateProducerIds", 0, 0], // 67
  ["ConsumerGroupHeartbeat", 1, 0], // 68
  ["ConsumerGroupDescribe", 1, 0], // 69
  ["ControllerRegistration", 0, 0], // 70
  ["GetTelemetrySubscriptions", 0, 0], // 71
  ["PushTelemetry", 0, 0], // 72
  ["AssignReplicasToDirs", 0, 0], // 73
  ["ListConfigResources", 1, 0], // 74
  ["DescribeTopicPartitions", 0, 0], // 75
  ["ShareGroupHeartbeat", 1, 0], // 76
  ["ShareGroupDescribe", 1, 0], // 77
  ["ShareFetch", 1, 0], // 78
  ["ShareAcknowledge", 1, 0], // 79
  ["AddRaftVoter", 0, 0], // 80
  ["RemoveRaftVoter", 0, 0], // 81
  ["UpdateRaftVoter", 0, 0], // 82
  ["InitializeShareGroupState", 0, 0], // 83
  ["ReadShareGroupState", 0, 0], // 84
  ["WriteShareGroupState", 0, 0], // 85
  ["DeleteShareGroupState", 0, 0], // 86
  ["ReadShareGroupStateSummary", 0, 0], // 87
  ["StreamsGroupHeartbeat", 0, 0], // 88
  ["StreamsGroupDescribe", 0, 0], // 89
  ["DescribeShareGroupOffsets", 0, 0], // 90
  ["AlterShareGroupOffsets", 0, 0], // 91
  ["DeleteShareGroupOffsets", 0, 0], // 92
];

export const enum ApiKey {
  Produce = 0,
  Fetch = 1,
  ListOffsets = 2,
  Metadata = 3,
  OffsetCommit = 8,
  OffsetFetch = 9,
  FindCoordinator = 10,
  DescribeGroups = 15,
  ApiVersions = 18,
  CreateTopics = 19,
  DeleteTopics = 20,
  DescribeTopicPartitions = 75,
}

/** Versions above the highest known that a request may still carry (a newer client or broker). */
const VERSION_SLACK = 4;

export function isKnownApi(key: number): boolean {
  return key >= 0 && key < APIS.length;
}

/** Whether `version` is plausible for a known API key (detection). */
export function plausibleVersion(key: number, version: number): boolean {
  const api = APIS[key];
  return api !== undefined && version >= 0 && version <= api[1] + VERSION_SLACK;
}

/** The name requests of this key are counted under; an unknown key is "ApiKey<n>". */
export function apiName(key: number): string {
  return APIS[key]?.[0] ?? `ApiKey${key}`;
}

/** Whether this version of the API uses flexible encoding (request header v2, response header v1). */
export function isFlexible(key: number, version: number): boolean {
  const first = APIS[key]?.[2] ?? -1;
  return first >= 0 && version >= first;
}

/**
 * Error codes counted as the broker's fault (server_err_count): UNKNOWN_SERVER_ERROR (-1) and
 * the codes Kafka marks retriable (its RetriableException subclasses: the broker could not
 * serve the request now: no leader, not the coordinator, still loading, not enough replicas,
 * timed out, storage failing …), except four retriable codes that say the request itself was
 * wrong or too much: CORRUPT_MESSAGE (2, the records failed their CRC),
 * UNKNOWN_TOPIC_OR_PARTITION (3) and UNKNOWN_TOPIC_ID (100) (the request named something that
 * does not exist, like HTTP 404), THROTTLING_QUOTA_EXCEEDED (89, like HTTP 429). Every other
 * non-zero code (authorization, invalid request, offset out of range, rebalance in progress,
 * fenced ids, unsupported version, codes newer than this table …) is the client's
 * (client_err_count).
 */
const SERVER_ERRORS = new Set([-1, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83, 84, 88, 103, 106, 122, 123, 133]);

export function errorClass(code: number): ErrorClass {
  if (code === 0) return ErrorClass.None;
  return SERVER_ERRORS.has(code) ? ErrorClass.Server : ErrorClass.Client;
}

/**
 * APIs whose response carries one top-level error_code at a fixed place: [throttleSince,
 * errorSince, errorUntil]. From version `throttleSince` on (Infinity: never), an int32
 * throttle_time_ms precedes the error code; the code is there in versions errorSince…errorUntil.
 * (Fetch, Metadata, Produce, FindCoordinator v4+ and a few list-shaped responses have their
 * own readers in kafka-errors.ts.)
 */
export const TOP_LEVEL_ERROR: ReadonlyMap<number, readonly [number, number, number]> = new Map<number, readonly [number, number, number]>([
  [10, [1, 0, 3]], // FindCoordinator (v4+: per coordinator)
  [11, [2, 0, 99]], // JoinGroup
  [12, [1, 0, 99]], // Heartbeat
  [13, [1, 0, 99]], // LeaveGroup
  [14, [1, 0, 99]], // SyncGroup
  [16, [1, 0, 99]], // ListGroups
  [17, [Infinity, 0, 99]], // SaslHandshake
  [18, [Infinity, 0, 99]], // ApiVersions
  [22, [0, 0, 99]], // InitProducerId
  [24, [0, 4, 99]], // AddPartitionsToTxn
  [25, [0, 0, 99]], // AddOffsetsToTxn
  [26, [0, 0, 99]], // EndTxn
  [29, [0, 0, 99]], // DescribeAcls
  [35, [0, 3, 99]], // DescribeLogDirs
  [36, [Infinity, 0, 99]], // SaslAuthenticate
  [38, [Infinity, 0, 99]], // CreateDelegationToken
  [39, [Infinity, 0, 99]], // RenewDelegationToken
  [40, [Infinity, 0, 99]], // ExpireDelegationToken
  [41, [Infinity, 0, 99]], // DescribeDelegationToken
  [43, [0, 1, 99]], // ElectLeaders
  [47, [Infinity, 0, 99]], // OffsetDelete
  ...[46, 48, 50, 56, 57, 59, 60, 62, 63, 64, 66, 67, 68, 70, 71, 72, 73, 74, 76, 78, 79, 80, 81, 82, 88, 91, 92].map(
    (k) => [k, [0, 0, 99]] as [number, readonly [number, number, number]],
  ),
  ...[52, 53, 54, 55].map((k) => [k, [Infinity, 0, 99]] as [number, readonly [number, number, number]]), // Vote, Begin/EndQuorumEpoch, DescribeQuorum
]);
