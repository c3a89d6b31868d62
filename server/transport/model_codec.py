"""Model metadata and statistics as v2 protocol messages."""

from __future__ import annotations

from naiad.config.settings import TensorSpec
from naiad.engine.protocol import ModelDescription
from naiad.native import Stats
from naiad_protocol import grpc_service_pb2 as pb


def model_metadata(description: ModelDescription) -> pb.ModelMetadataResponse:
    settings = description.settings

    def tensor(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
        shape = [-1, *spec.dims] if settings.batches else list(spec.dims)
        return pb.ModelMetadataResponse.TensorMetadata(
            name=spec.name, datatype=spec.datatype.wire, shape=shape
        )

    return pb.ModelMetadataResponse(
        name=settings.name,
        versions=[str(v) for v in sorted(description.ready_versions)],
        platform=settings.platform,
        inputs=[tensor(s) for s in settings.inputs],
        outputs=[tensor(s) for s in settings.outputs],
    )


def _duration(count: int, ns: int) -> pb.StatisticDuration:
    return pb.StatisticDuration(count=count, ns=ns)


def model_statistics(name: str, version: int, stats: Stats) -> pb.ModelStatistics:
    """ModelStatistics in Triton's shape; compute counts are per request, as perf_analyzer needs."""
    inference = pb.InferStatistics(
        success=_duration(stats.success_count, stats.success_ns),
        fail=_duration(stats.fail_count, stats.fail_ns),
        queue=_duration(stats.queue_count, stats.queue_ns),
        compute_input=_duration(stats.compute_input_count, stats.compute_input_ns),
        compute_infer=_duration(stats.compute_infer_count, stats.compute_infer_ns),
        compute_output=_duration(stats.compute_output_count, stats.compute_output_ns),
        cache_hit=_duration(stats.cache_hit_count, stats.cache_hit_ns),
        cache_miss=_duration(stats.cache_miss_count, stats.cache_miss_ns),
    )
    batches = [
        pb.InferBatchStatistics(
            batch_size=b.batch_size,
            compute_input=_duration(b.count, b.compute_input_ns),
            compute_infer=_duration(b.count, b.compute_infer_ns),
            compute_output=_duration(b.count, b.compute_output_ns),
        )
        for b in stats.batch_stats
    ]
    return pb.ModelStatistics(
        name=name,
        version=str(version),
        last_inference=stats.last_inference_ms,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=inference,
        batch_stats=batches,
    )
