package org.gpt4llm.train.parallel;

import java.time.Duration;
import java.util.List;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.InProcessGroup;
import org.gpt4llm.distributed.nccl.Nccl;
import org.gpt4llm.distributed.nccl.NcclCommunicator;

/**
 * The communicators of a job whose every rank is a device of this process: NCCL between real GPUs
 * (refused in one sentence where libnccl is missing), else one {@link InProcessGroup} (cpu, cuda-emu).
 */
public final class LocalGroup {
    private LocalGroup() {}

    /** Whether ranks on {@code be}'s kind of device talk through NCCL. */
    public static boolean usesNccl(Backend be) {
        return be instanceof CudaBackend cb && cb.name().equals("cuda");
    }

    /** Rank i of the result is {@code backends.get(i)}'s; a collective waits at most {@code timeout} for the others. */
    public static List<Communicator> open(List<? extends Backend> backends, Duration timeout) {
        if (!usesNccl(backends.get(0))) return InProcessGroup.create(backends, timeout);
        Nccl nccl = Nccl.load();
        List<Device> devices = backends.stream().map(be -> ((CudaBackend) be).device()).toList();
        return NcclCommunicator.joinAll(nccl, devices, 0, devices.size(), NcclCommunicator.uniqueId(nccl), timeout);
    }
}
