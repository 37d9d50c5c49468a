package org.gpt4llm.distributed.nccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.tensor.DType;
import org.junit.jupiter.api.Test;

/** What can be checked of the NCCL binding without NCCL: the C declarations, the enums and the refusals. */
class NcclTest {
    private static final ValueLayout I = ValueLayout.JAVA_INT, P = ValueLayout.ADDRESS, S = ValueLayout.JAVA_LONG;

    @Test
    void theUniqueIdIsA128ByteStructPassedByValue() {
        assertEquals(128, Nccl.UNIQUE_ID.byteSize());
        assertEquals(1, Nccl.UNIQUE_ID.byteAlignment());
        FunctionDescriptor init = Nccl.FUNCTIONS.get("ncclCommInitRank");
        // ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank)
        assertEquals(List.of(P, I, Nccl.UNIQUE_ID, I), init.argumentLayouts());
        assertTrue(init.argumentLayouts().get(2) instanceof java.lang.foreign.StructLayout);
    }

    @Test
    void theCollectivesMatchNcclH() {
        // (sendbuff, recvbuff, size_t count, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t)
        assertEquals(FunctionDescriptor.of(I, P, P, S, I, I, P, P), Nccl.FUNCTIONS.get("ncclAllReduce"));
        assertEquals(FunctionDescriptor.of(I, P, P, S, I, I, P, P), Nccl.FUNCTIONS.get("ncclReduceScatter"));
        // (sendbuff, recvbuff, size_t sendcount, ncclDataType_t, ncclComm_t, cudaStream_t)
        assertEquals(FunctionDescriptor.of(I, P, P, S, I, P, P), Nccl.FUNCTIONS.get("ncclAllGather"));
        // (sendbuff, recvbuff, size_t count, ncclDataType_t, int root, ncclComm_t, cudaStream_t)
        assertEquals(FunctionDescriptor.of(I, P, P, S, I, I, P, P), Nccl.FUNCTIONS.get("ncclBroadcast"));
        assertEquals(FunctionDescriptor.of(I), Nccl.FUNCTIONS.get("ncclGroupStart"));
        assertEquals(FunctionDescriptor.of(I), Nccl.FUNCTIONS.get("ncclGroupEnd"));
        assertEquals(FunctionDescriptor.of(I, P, P), Nccl.FUNCTIONS.get("ncclCommGetAsyncError"));
        assertEquals(FunctionDescriptor.of(I, P), Nccl.FUNCTIONS.get("ncclCommAbort"));
        assertEquals(FunctionDescriptor.of(P, I), Nccl.FUNCTIONS.get("ncclGetErrorString"));
        assertEquals(FunctionDescriptor.of(I, P), Nccl.FUNCTIONS.get("ncclGetVersion"));
        assertEquals(13, Nccl.FUNCTIONS.size());
    }

    @Test
    void enumsAreNcclHValues() {
        assertEquals(7, Nccl.dataType(DType.F32));
        assertEquals(9, Nccl.dataType(DType.BF16));
        assertEquals(6, Nccl.dataType(DType.F16));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Nccl.dataType(DType.I32));
        assertEquals("NCCL collectives here move F32, BF16 or F16 tensors, not I32", e.getMessage());
        assertEquals(0, NcclCommunicator.redOp(Communicator.ReduceOp.SUM));
        assertEquals(4, NcclCommunicator.redOp(Communicator.ReduceOp.AVG));
    }

    @Test
    void versionCodesReadAsNcclVersionDefinesThem() {
        assertEquals("2.21.5", Nccl.versionString(22105));
        assertEquals("2.18.1", Nccl.versionString(21801));
        assertEquals("2.8.4", Nccl.versionString(2804));
    }

    @Test
    void resultsAreWordedWithoutTheLibrary() {
        assertEquals("remote process exited or there was a network error", Nccl.resultName(6));
        assertEquals("invalid usage", Nccl.resultName(5));
        assertEquals("unknown NCCL result", Nccl.resultName(42));
    }

    @Test
    void aMachineWithoutNcclGetsOneSentence() {
        if (Nccl.find().isPresent()) return;  // a machine with NCCL: the GPU check exercises it
        CommunicatorException e = assertThrows(CommunicatorException.class, Nccl::load);
        assertEquals(Nccl.notFound(), e.getMessage());
        assertTrue(e.getMessage().startsWith("NCCL was not found: libnccl.so.2 is not on the library path"), e.getMessage());
        assertEquals(Nccl.notFound(), Nccl.describe());
    }
}
